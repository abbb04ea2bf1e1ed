"""`condsim label` and the cluster names of `condsim cluster`, through `condsim.cli.main`: the CSV
(path, the condition's name, confidence), the table, the JSON envelope, and every bad input as one
`error:` line plus one `hint:` line with exit code 2."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import condsim.cli as cli
import condsim.encoders
from condsim.collection import index_folder
from condsim.data.scenes import render_scene, scene_spec_at

MODEL_ID = "fake:clilabel@64"

pytestmark = pytest.mark.usefixtures("fake_default_model")


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("clilabel")
    images = root / "images"
    images.mkdir()
    for index in range(10):
        render_scene(scene_spec_at(4242, index), 48).save(images / f"s{index:02d}.png")
    store = root / "store"
    index_folder(images, store, condsim.encoders.load_encoder(MODEL_ID), show_progress=False)
    yield images, store


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def test_label_writes_one_row_per_image_with_the_condition_as_column(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path], tmp_path: Path
) -> None:
    images, store = indexed
    values = tmp_path / "colours.txt"
    values.write_text("red\ngreen\nblue\n")
    out = tmp_path / "labels.csv"
    code, stdout, _ = run(
        capsys, "label", "--by", "color", "--values", values, "--store", store, "--out", out
    )
    assert code == 0, stdout
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["path", "color", "confidence"] and len(rows) == 10
    assert {row["color"] for row in rows} <= {"red", "green", "blue"}
    assert all(0.0 < float(row["confidence"]) <= 1.0 for row in rows)
    assert {Path(row["path"]).name for row in rows} == {path.name for path in images.iterdir()}
    assert "10 images labelled by color" in stdout and str(out) in stdout.replace("\n", "")


def test_label_json_and_comparative(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, store = indexed
    values = tmp_path / "colours.json"
    values.write_text('["red", "green", "blue", "yellow"]')
    code, stdout, _ = run(
        capsys, "label", "--by", "color", "--values", values, "--comparative", "--json",
        "--store", store, "--out", tmp_path / "l.csv",
    )  # fmt: skip
    assert code == 0
    envelope = json.loads(stdout)
    assert envelope["method"] == "zero-shot, comparative" and len(envelope["results"]) == 10
    assert all(entry["label"] in {"red", "green", "blue", "yellow"} for entry in envelope["results"])
    assert sum(envelope["counts"].values()) == 10 and 1 <= len(envelope["refined"]) <= 3


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("red\n", "holds only one value ('red')"),
        ("red\nRED\n", "only one value"),
        ("# nothing\n", "no values"),
    ],
)
def test_label_bad_values_files_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path], tmp_path: Path, content: str, words: str
) -> None:
    _, store = indexed
    values = tmp_path / "values.txt"
    values.write_text(content)
    out = tmp_path / "labels.csv"
    code, _, err = run(capsys, "label", "--by", "color", "--values", values, "--store", store, "--out", out)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 2 and "Traceback" not in err, err
    assert lines[0].startswith("error: ") and words in lines[0] and lines[1].startswith("hint: ")
    assert not out.exists()


def test_label_missing_values_file_is_one_line(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, store = indexed
    code, _, err = run(capsys, "label", "--by", "color", "--values", tmp_path / "nope.txt", "--store", store)
    assert code == 2 and "Traceback" not in err and err.startswith("error: ")


def test_cluster_names_clusters_in_the_table_csv_and_json(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path], tmp_path: Path
) -> None:
    from condsim.conditions import resolve_condition

    vocabulary = set(resolve_condition("color").values)
    _, store = indexed
    out = tmp_path / "clusters"
    code, stdout, _ = run(
        capsys, "cluster", "--by", "color", "-n", "2", "--store", store, "--out", out, "--json"
    )
    assert code == 0
    envelope = json.loads(stdout)
    names = [entry["name"] for entry in envelope["clusters"]]
    assert len(names) == 2 and set(names) <= vocabulary
    assert all(entry["name"] == names[entry["cluster"]] for entry in envelope["results"])
    with (out / "clusters.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["path", "cluster", "name"]
    assert all(row["name"] == names[int(row["cluster"])] for row in rows)
    code, table, _ = run(capsys, "cluster", "--by", "color", "-n", "2", "--store", store, "--out", out)
    assert code == 0 and "nearest value" in table and names[0] in table


def test_label_help_says_what_by_is_for() -> None:
    """`--by` is declared once (cli/options.py); label gives it its own help, cluster and classify theirs."""
    from typer.testing import CliRunner

    def by_help(command: str) -> str:
        text = CliRunner().invoke(cli.app, [command, "--help"], env={"COLUMNS": "200"}).output
        return next(line for line in text.splitlines() if "--by" in line)

    assert "label the images" in by_help("label") and "classify" not in by_help("label")
    assert "cluster or classify" in by_help("cluster") and "cluster or classify" in by_help("classify")
