"""Everyday command-line conventions (issue 13, rough edges): `--store` found without typing it,
one meaning per flag name, help without Python types or paper references, the `number` alias,
and a bench hint that names only what bench has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main as typer_main
from PIL import Image

import condsim.cli as cli
from condsim.cli.inputs import STORE_MARKER, STORE_VARIABLE, locate_store
from condsim.collection import index_folder
from condsim.encoders import load_encoder
from condsim.errors import StoreError

MODEL = "fake:conventions@16"
pytestmark = pytest.mark.usefixtures("fake_default_model")
#: every registered command, whoever added it
COMMANDS = [
    (command.name or command.callback.__name__).replace("_", "-")  # type: ignore[union-attr]
    for command in cli.app.registered_commands
]


def _run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "images"
    images.mkdir()
    for index, colour in enumerate([(220, 30, 30), (30, 200, 40), (40, 40, 210)]):
        Image.new("RGB", (16, 16), colour).save(images / f"img{index}.png")
    index_folder(images, tmp_path / "store", load_encoder(MODEL), show_progress=False)
    return images, tmp_path / "store"


# ------------------------------------------------------------------------------------------ --store


def test_locate_store_order(tmp_path: Path) -> None:
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    assert locate_store("given", {STORE_VARIABLE: "/env"}, work) == Path("given")
    assert locate_store(None, {STORE_VARIABLE: "/env"}, work) == Path("/env")
    with pytest.raises(StoreError, match="no --store given") as raised:
        locate_store(None, {}, work)
    assert STORE_VARIABLE in (raised.value.hint or "") and STORE_MARKER in (raised.value.hint or "")
    (tmp_path / "work" / STORE_MARKER).write_text("# our photos\n\n  ../photos.condsim  \n")
    assert locate_store(None, {}, work) == tmp_path / "work" / "../photos.condsim"
    (work / STORE_MARKER).mkdir()  # a folder named .condsim is the store itself, and nearer
    assert locate_store(None, {}, work) == work / STORE_MARKER
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / STORE_MARKER).write_text("# nothing\n")
    with pytest.raises(StoreError, match="names no store"):
        locate_store(None, {}, tmp_path / "empty")


def test_store_from_the_environment_and_from_a_marker(
    capsys: pytest.CaptureFixture[str],
    store: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    images, store_path = store
    monkeypatch.delenv(STORE_VARIABLE, raising=False)
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    code, _, err = _run(capsys, "similar", images / "img0.png")
    assert code == 2 and "no --store given" in err and STORE_VARIABLE in err

    monkeypatch.setenv(STORE_VARIABLE, str(store_path))
    code, out, err = _run(capsys, "similar", images / "img0.png", "-k", "2")
    assert code == 0 and "img1.png" in out, err

    monkeypatch.delenv(STORE_VARIABLE)
    (work / STORE_MARKER).write_text(f"{store_path}\n")
    code, out, err = _run(capsys, "search", "a red image", "-k", "2")
    assert code == 0 and "img" in out, err


# ----------------------------------------------------------------------------------------- flag names


def test_rank_takes_compare_and_refuses_the_old_by(
    capsys: pytest.CaptureFixture[str], store: tuple[Path, Path]
) -> None:
    _, store_path = store
    code, _, err = _run(capsys, "rank", "--compare", "larger|smaller", "--store", store_path, "-k", "1")
    assert code == 0, err
    code, _, err = _run(capsys, "rank", "--by", "larger|smaller", "--store", store_path)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and "--compare" in lines[0] and "--compare 'larger|smaller'" in lines[1]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_no_types_and_no_paper_references(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = _run(capsys, command, "--help")
    assert code == 0, err
    assert not re.search(r"<(bool|str|int|float|list\[str\])>", out), out
    # the papers' equations live in docs/methods.md: help may point there, never cite them itself
    assert not re.search(r"Eq\. ?\d|(CRL|CLAY|PC-CLIP),? §|(?<!docs/)methods\.md", out), out
    assert "--help" in out


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_prints_brackets_as_written(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str | None
) -> None:
    """Help is plain text: "milvus://HOST:PORT[/DB]" once crashed `index --help` as rich markup, and
    "condsim[ray]" vanished from it; every bracketed fragment of a help text must print as written."""
    monkeypatch.setenv("COLUMNS", "400")
    group = typer_main.get_command(cli.app)
    target = group if command is None else group.commands[command]  # type: ignore[attr-defined]
    texts = [target.help or "", *(getattr(param, "help", None) or "" for param in target.params)]
    code, out, err = _run(capsys, *([] if command is None else [command]), "--help")
    assert code == 0, err
    shown = " ".join(out.split())
    for fragment in re.findall(r"\[[^\]\s]*\]", " ".join(texts)):
        assert fragment in shown, (fragment, out)


def test_similar_help_names_values() -> None:
    from typer.testing import CliRunner

    text = CliRunner().invoke(cli.app, ["similar", "--help"], env={"COLUMNS": "200"}).output
    for shown in ("--weight", "COND=W", "--store", "DIR", "-k", "N", "FILE.png"):
        assert shown in text, text
    assert re.search(r"--json\s+print", text), text  # a flag: no value after it


# ---------------------------------------------------------------------------------------- vocabulary


def test_number_means_count_not_card_rank(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "conditions", "number")
    assert code == 0 and out.lstrip().startswith("count")


def test_bench_hint_names_no_option_bench_lacks(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    Image.new("RGB", (8, 8), (200, 0, 0)).save(tmp_path / "a.png")
    Image.new("RGB", (8, 8), (0, 0, 200)).save(tmp_path / "b.png")
    (tmp_path / "labels.csv").write_text("path,fabric\na.png,silk\nb.png,wool\n")
    code, _, err = _run(
        capsys, "bench", "--data", f"csv:{tmp_path / 'labels.csv'}", "--out", tmp_path / "out"
    )
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and "fabric" in lines[0], err
    assert "--llm" not in err and "--prompts" not in err
