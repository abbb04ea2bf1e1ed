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
