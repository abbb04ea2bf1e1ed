"""`run_bench` / `condsim bench` end to end: results.json shape, report, charts, CRL text lists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from condsim.errors import InvalidInputError, UnknownConditionError
from condsim.eval.bench import QUICK, SUITES, BenchSettings, resolve_suites, run_bench, write_results
from condsim.eval.protocols import METHODS

TINY = BenchSettings(
    images={"clevr4": 120, "cards": 120, "objects": 120},
    kmeans_seeds=1,
    fewshot_splits=1,
    shots=(1, 2),
    difference_seeds=1,
    images_per_seed=30,
    image_size=32,
)
RETRIEVAL_KEYS = {
    "plain",
    "text",
    "image+text",
    "crl",
    "clay",
    "clay-rotation",
    "clay-euclidean",
    "rerank",
    "steer",
}


@pytest.mark.filterwarnings("ignore::condsim.errors.CondsimWarning")
def test_run_bench_writes_every_table(fake_encoder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    results = run_bench(list(SUITES), fake_encoder, settings=TINY, show_progress=False)
    for suite, spec in SUITES.items():
        assert set(results[suite]) == set(spec.conditions)
        for scores in results[suite].values():
            assert RETRIEVAL_KEYS <= set(scores) == set(METHODS)
            assert all(0.0 <= value <= 100.0 for value in scores.values())
        assert set(results["multi_condition"][suite]) == {"+".join(combo) for combo in spec.multi}
        assert set(results["difference"][suite]) == {c.attribute for c in spec.comparatives}
        assert set(results["ranking"][suite]) == {c.attribute for c in spec.comparatives}
    assert set(results["clustering"]["objects"]) == {"category", "color"}  # subcategory is nested
    assert set(results["fewshot"]["clevr4"]["color"]) == {"plain", "crl", "clay"}
    assert results["meta"]["model_id"] == fake_encoder.model_id

    path = write_results(results, tmp_path)
    assert json.loads(path.read_text())["clevr4"] == results["clevr4"]
    report = (tmp_path / "report.md").read_text()
    assert "paper: CLAY (CLIP-B)" in report and "| `clay` |" in report
    for chart in (
        "clevr4_retrieval.png",
        "cards_retrieval.png",
        "objects_retrieval.png",
        "clustering_acc.png",
    ):
        with Image.open(tmp_path / chart) as image:
            assert image.size[0] > 200


@pytest.mark.filterwarnings("ignore::condsim.errors.CondsimWarning")
def test_second_run_uses_the_embedding_cache(fake_encoder) -> None:  # type: ignore[no-untyped-def]
    run_bench(["cards"], fake_encoder, settings=TINY, show_progress=False)
    calls = fake_encoder.image_calls
    run_bench(["cards"], fake_encoder, settings=TINY, show_progress=False)
    assert calls > 1 and fake_encoder.image_calls == calls + 1  # only the fingerprint probe


@pytest.mark.filterwarnings("ignore::condsim.errors.CondsimWarning")
def test_crl_texts_option_uses_the_published_lists(fake_encoder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lists = {
        "vlm_prompt_prefix": {
            "cards": {"number": "a poker card with the number of ", "suits": "a poker card of "}
        },
        "texts": {"cards": {"number": ["ace", "two", "deuce"], "suits": ["hearts", "spades"]}},
    }
    path = tmp_path / "crl.json"
    path.write_text(json.dumps(lists))
    results = run_bench(["cards"], fake_encoder, settings=TINY, crl_texts=path, show_progress=False)
    assert results["meta"]["suites"]["cards"]["prompts"]["number"]["crl"] == "CRL list cards/number (3 texts)"
    path.write_text("{}")
    with pytest.raises(InvalidInputError):
        run_bench(["cards"], fake_encoder, settings=TINY, crl_texts=path, show_progress=False)


def test_suite_names() -> None:
    assert resolve_suites("all") == ["clevr4", "cards", "objects"]
    assert resolve_suites("cards") == ["cards"]
    with pytest.raises(UnknownConditionError):
        resolve_suites("imagenet")


def _builtin_model_present() -> bool:
    from condsim.encoders.builtin import builtin_asset_dir

    folder = builtin_asset_dir()
    return (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()


@pytest.mark.slow
@pytest.mark.skipif(
    not _builtin_model_present(), reason="no built-in checkpoint in condsim/assets/builtin yet"
)
def test_quick_suite_runs_end_to_end_with_the_builtin_model(tmp_path: Path) -> None:
    """The CI smoke run: `condsim bench --suite all --quick` with the shipped model."""
    environment = {**os.environ, "CONDSIM_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "condsim",
            "bench",
            "--suite",
            "all",
            "--quick",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["meta"]["settings"]["images"] == QUICK.images
    assert set(results["clevr4"]["color"]) >= RETRIEVAL_KEYS
    assert (tmp_path / "out" / "report.md").is_file()


@pytest.mark.filterwarnings("ignore::condsim.errors.CondsimWarning")
def test_bench_on_the_users_own_labelled_folders(fake_encoder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`--data folders:DIR`: each condition folder is prompted by its built-in vocabulary and scored
    by every retrieval method, clustering and few-shot; the report gets its own section and chart."""
    from condsim.eval.bench import user_data_suite

    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (40, 40, 210)}
    for name, rgb in colours.items():
        for index in range(8):
            shade = tuple(max(0, min(255, value + 6 * index - 20)) for value in rgb)
            folder = tmp_path / "data" / "colour" / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (16, 16), shade).save(folder / f"{name}{index}.png")
    name, suite, images = user_data_suite(f"folders:{tmp_path / 'data'}")
    assert suite.conditions == {"colour": "color"} and len(images) == 24
    results = run_bench(
        [], fake_encoder, settings=TINY, show_progress=False, user_data=[(name, suite, images)]
    )
    assert set(results[name]["colour"]) == set(METHODS)
    assert results[name]["colour"]["clay"] > 0.0
    assert set(results["clustering"][name]["colour"]) == {"plain", "crl", "clay"}
    write_results(results, tmp_path / "out")
    assert f"## {name}" in (tmp_path / "out" / "report.md").read_text()
    assert (tmp_path / "out" / f"{name}_retrieval.png").is_file()


def test_bench_data_spec_errors(tmp_path: Path) -> None:
    from condsim.errors import DatasetLayoutError
    from condsim.eval.bench import user_data_suite

    with pytest.raises(InvalidInputError, match="KIND:PATH"):
        user_data_suite("photos")
    with pytest.raises(InvalidInputError, match="KIND:PATH"):
        user_data_suite("zip:photos.zip")
    with pytest.raises(DatasetLayoutError):
        user_data_suite(f"clevr4:{tmp_path}")
    (tmp_path / "labels.csv").write_text("path,flavour\na.png,sweet\nb.png,sour\n")
    for name in ("a.png", "b.png"):
        Image.new("RGB", (4, 4)).save(tmp_path / name)
    with pytest.raises(UnknownConditionError, match="flavour"):
        user_data_suite(f"csv:{tmp_path / 'labels.csv'}")
