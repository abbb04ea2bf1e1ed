"""`similar` / `search` filters and outputs, and `condsim duplicates`, through `condsim.cli.main`:
--keep-duplicates, --text, --min-score, --path, --paths-only, --copy-to / --link-to, the JSON result
envelope, and every bad input as one `error:` line plus one `hint:` line with exit code 2.

The store holds small rendered scenes in two folders plus a byte copy of one of them under the same
file name in the other folder (a duplicate, and a name clash for --copy-to), indexed with the suite's
fake model.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import condsim.cli as cli
import condsim.encoders
from condsim.collection import index_folder
from condsim.data.scenes import render_scene, scene_spec_at

MODEL_ID = "fake:cliq@64"
N_IMAGES = 16

pytestmark = pytest.mark.usefixtures("fake_default_model")


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(images folder, store): scenes in a/ and b/, and b/s00.png, a byte copy of a/s00.png."""
    root = tmp_path_factory.mktemp("cliq")
    images = root / "images"
    for index in range(N_IMAGES):
        folder = images / ("a" if index % 2 == 0 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        render_scene(scene_spec_at(7373, index), 48).save(folder / f"s{index:02d}.png")
    shutil.copyfile(images / "a" / "s00.png", images / "b" / "s00.png")
    store = root / "store"
    index_folder(images, store, condsim.encoders.load_encoder(MODEL_ID), show_progress=False)
    yield images, store


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def one_line_error(capsys: pytest.CaptureFixture[str], *args: object) -> str:
    """The error line of a user mistake (exit 2, an error line and a hint line, no traceback)."""
    code, _, err = run(capsys, *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 2 and "Traceback" not in err, err
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: "), err
    return lines[0]


def test_duplicates_of_the_query_are_left_out_unless_kept(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path]
) -> None:
    images, store = indexed
    query = images / "a" / "s00.png"
    code, out, _ = run(capsys, "similar", query, "--store", store, "-k", "20", "--paths-only")
    assert code == 0 and str(images / "b" / "s00.png") not in out.splitlines()
    code, out, _ = run(capsys, "similar", query, "--store", store, "--paths-only", "--keep-duplicates")
    assert out.splitlines()[0] == str(images / "b" / "s00.png")  # the copy, first, at score 1


def test_paths_only_prints_one_existing_path_a_line(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path]
) -> None:
    _, store = indexed
    code, out, err = run(capsys, "search", "a red cube", "--store", store, "-k", "4", "--paths-only")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4 and all(Path(line).is_file() for line in lines), err


def test_json_is_the_result_envelope_and_names_the_text(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path]
) -> None:
    images, store = indexed
    query = images / "a" / "s02.png"
    code, out, _ = run(
        capsys, "similar", query, "--store", store, "--by", "color", "--text", "but red", "-k", "3", "--json"
    )
    envelope = json.loads(out)
    assert code == 0 and envelope["query"] == {"image": str(query), "text": "but red"}
    assert envelope["method"] == "clay" and envelope["conditions"]["by"] == ["color"]
    assert envelope["model"] == MODEL_ID and isinstance(envelope["store_version"], int)
    assert len(envelope["results"]) == 3
    assert all(set(hit) == {"id", "path", "score", "contributions"} for hit in envelope["results"])
    code, out, _ = run(
        capsys, "search", "a cube", "--store", store, "--by", "shape", "--not", "color", "-k", "2", "--json"
    )
    envelope = json.loads(out)
    assert envelope["query"] == {"text": "a cube"} and envelope["conditions"]["not"] == ["color"]


def test_path_and_min_score_limit_the_results(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path]
) -> None:
    images, store = indexed
    query = images / "a" / "s02.png"
    code, out, _ = run(capsys, "similar", query, "--store", store, "--path", "b/*", "--paths-only")
    assert code == 0 and out.splitlines() and all("/b/" in line for line in out.splitlines())
    code, out, err = run(capsys, "similar", query, "--store", store, "--min-score", "1")
    assert code == 0 and "no images scoring at least --min-score 1" in out + err


def test_copy_to_and_link_to_fill_a_folder_and_resolve_clashes(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path], tmp_path: Path
) -> None:
    images, store = indexed
    query = images / "a" / "s02.png"
    picked = tmp_path / "picked"
    args = ("similar", query, "--store", store, "-k", "20", "--keep-duplicates", "--copy-to", picked)
    code, out, _ = run(capsys, *args)
    names = sorted(path.name for path in picked.iterdir())
    assert code == 0 and f"copied {N_IMAGES} images into {picked}" in out
    assert len(names) == N_IMAGES and "s00.png" in names and "s00-2.png" in names  # a/ and b/ s00.png
    run(capsys, *args)  # a second run reuses what is there
    assert len(list(picked.iterdir())) == N_IMAGES
    linked = tmp_path / "linked"
    code, _, _ = run(capsys, "search", "a cube", "--store", store, "-k", "3", "--link-to", linked)
    links = list(linked.iterdir())
    assert (
        code == 0
        and len(links) == 3
        and all(link.is_symlink() and link.resolve().is_file() for link in links)
    )


def test_duplicates_lists_groups_as_table_json_and_sheet(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, store = indexed
    code, out, _ = run(capsys, "duplicates", "--store", store)
    assert code == 0 and "groups of duplicates" in out and "a/s00.png" in out and "b/s00.png" in out
    sheet = tmp_path / "dups.png"
    code, out, _ = run(capsys, "duplicates", "--store", store, "--json", "--sheet", sheet)
    envelope = json.loads(out)
    assert code == 0 and envelope["query"]["duplicates"] is True and envelope["method"] == "plain"
    assert envelope["query"]["threshold"] == 0.985  # the default in force, not null
    copies = [hit for hit in envelope["results"] if hit["path"] in ("a/s00.png", "b/s00.png")]
    assert len(copies) == 2 and {hit["match"] for hit in copies} == {"first", "copy"}
    assert len({hit["group"] for hit in copies}) == 1
    with Image.open(sheet) as image:
        assert image.format == "PNG"
    code, out, _ = run(
        capsys, "duplicates", "--store", store, "--by", "color", "--threshold", "0.5", "--json"
    )
    assert code == 0 and json.loads(out)["conditions"]["by"] == ["color"]
    assert json.loads(out)["query"]["threshold"] == 0.5
    code, out, _ = run(capsys, "duplicates", "--store", store, "--rotations", "--json")
    assert code == 0 and json.loads(out)["query"]["rotations"] is True


def test_search_not_without_by_says_why_it_is_refused(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path]
) -> None:
    """`search TEXT --not COND` alone is refused (decided, issue 13): CLAY removes a condition from
    the subspace of the --by ones, and plain similarity has none; the hint says so."""
    _, store = indexed
    code, out, err = run(capsys, "search", "a cube", "--not", "color", "--store", store)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and not out and len(lines) == 2, err
    assert "--not" in lines[0] and "plain similarity has none" in lines[1] and "--by shape" in lines[1]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("duplicates", "--threshold", "1.5"), "between 0 and 1"),
        (("duplicates", "--threshold", "-0.1"), "between 0 and 1"),
        (("duplicates", "--by", "color", "--rotations"), "rotations compares pictures"),
        (("similar", "{query}", "--copy-to", ""), "--copy-to is empty"),
        (("similar", "{query}", "--copy-to", "{tmp}/missing/parent/dir"), "does not exist"),
        (("similar", "{query}", "--link-to", "{query}"), "not a folder"),
        (("similar", "{query}", "--copy-to", "{tmp}/x", "--link-to", "{tmp}/y"), "--copy-to and --link-to"),
        (("similar", "{query}", "--json", "--paths-only"), "--json and --paths-only"),
        (("similar", "{query}", "--path", "nowhere/*"), "matches none of the"),
        (("search", "a cube", "--path", "nowhere/*"), "matches none of the"),
        (("similar", "{query}", "--min-score", "nan"), "--min-score"),
        (("similar", "{query}", "--min-score", "1.5"), "outside [-1, 1]"),
        (("search", "a cube", "--min-score", "-2"), "outside [-1, 1]"),
        (("similar", "{query}", "--text", "red", "--text-weight", "0"), "--text-weight"),
        (("similar", "{query}", "--text", "red", "--text-weight", "1.5"), "--text-weight"),
        (("similar", "{query}", "--text", " "), "--text is empty"),
        (("search", "a cube", "--not", "color"), "--not"),
        (("search", "a cube", "--by", "shape", "--not", "color", "--method", "crl"), "--method clay"),
    ],
)
def test_bad_query_inputs_are_one_line_errors(
    capsys: pytest.CaptureFixture[str],
    indexed: tuple[Path, Path],
    tmp_path: Path,
    args: tuple[str, ...],
    words: str,
) -> None:
    images, store = indexed
    query = images / "a" / "s02.png"
    filled = [arg.format(query=query, tmp=tmp_path) for arg in args]
    line = one_line_error(capsys, *filled, "--store", store)
    assert words.lower() in line.lower(), line
    assert not (tmp_path / "x").exists() and not (tmp_path / "missing").exists()  # nothing created
