"""`run_bench` / `condsim bench` end to end: results.json shape, report, charts, CRL text lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from condsim.cli import app
from condsim.errors import InvalidInputError, UnknownConditionError
from condsim.eval.bench import SUITES, BenchSettings, resolve_suites, run_bench, write_results
from condsim.eval.scorers import METHODS, TEXT_METHODS
from condsim.eval.sensitivity import SWEEPS

TINY = BenchSettings(
    images={"clevr4": 120, "cards": 120, "objects": 120},
    kmeans_seeds=1,
    fewshot_splits=1,
    shots=(1, 2),
    difference_seeds=1,
    images_per_seed=30,
    image_size=32,
    split_seeds=2,
    validation_images=60,
    held_out_images=80,
)
RETRIEVAL_KEYS = {
    "plain",
    "zero-shot-match",
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
        for condition in spec.conditions:
            assert set(results["intervals"][suite][condition]) == set(METHODS)
            assert all(low <= high for low, high in results["intervals"][suite][condition].values())
            splits = results["split_scores"][suite][condition]
            assert set(splits) == set(METHODS) and all(len(v) == TINY.split_seeds for v in splits.values())
            assert splits["clay"][0] == results[suite][condition]["clay"]  # split 0 is the table's value
            assert set(results["topk"][suite][condition]["clay"]) == {"precision@10", "ndcg@10"}
            assert 0.0 <= results["zero_shot"][suite][condition] <= 100.0
            assert set(results["prompts"][suite][condition]["built-in"]) == set(TEXT_METHODS)
            assert (
                results["prompts"][suite][condition]["built-in"]["clay"] == results[suite][condition]["clay"]
            )
            comparative = results["comparative"][suite][condition]
            assert len(comparative["pairs"]) <= 3 and all(len(pair) == 2 for pair in comparative["pairs"])
        for combo in spec.multi:
            assert "zero-shot-match" in results["multi_condition"][suite]["+".join(combo)]
            assert set(results["intervals"][suite]["+".join(combo)]) == set(
                results["multi_condition"][suite]["+".join(combo)]
            )
        for condition in spec.crl_lists:  # CRL published lists for every Clevr-4 and Cards condition
            assert "crl-lists" in results["prompts"][suite][condition]
    assert set(results["clustering"]["objects"]) == {"category", "color"}  # subcategory is nested
    assert set(results["clustering"]["clevr4"]["color"]) == {"plain", "crl", "clay", "zero-shot-match"}
    assert set(results["fewshot"]["clevr4"]["color"]) == {"plain", "crl", "clay"}
    meta = results["meta"]
    assert meta["model_id"] == fake_encoder.model_id
    assert meta["commit"] == "unknown" or len(meta["commit"].removesuffix("-dirty")) == 40
    assert {"python", "numpy", "torch", "condsim"} <= set(meta["versions"])
    sensitivity = results["sensitivity"]
    assert set(sensitivity["defaults"]) == {sweep.name for sweep in SWEEPS}
    for sweep in SWEEPS:
        summary = sensitivity["defaults"][sweep.name]
        assert summary["chosen"] in summary["validation"] and summary["chosen"] in summary["test"]
        assert set(summary["test"]) == {summary["chosen"], summary["default"]}  # test: nothing else
        assert set(sensitivity["validation"]["clevr4"][sweep.name]) == {f"{v:g}" for v in sweep.values}

    path = write_results(results, tmp_path)
    assert json.loads(path.read_text())["clevr4"] == results["clevr4"]
    report = (tmp_path / "report.md").read_text()
    assert "paper: CLAY (CLIP-B)" in report and "| `clay` |" in report
    assert "zero-shot-match" in report and "Sensitivity" in report and "no-class-names" in report
    assert "## Summary: what each method adds" in report and "paired 95 % interval" in report
    for chart in (
        "sensitivity.png",
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
    calls = fake_encoder.image_batches
    run_bench(["cards"], fake_encoder, settings=TINY, show_progress=False)
    # only the fingerprint probes of the two datasets (test and validation split)
    assert calls > 2 and fake_encoder.image_batches == calls + 2


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
    assert resolve_suites("all") == ["clevr4", "cards", "objects", "flat"]
    assert resolve_suites("cards") == ["cards"]
    assert resolve_suites("flat") == ["flat"]
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
@pytest.mark.filterwarnings("ignore::condsim.errors.CondsimWarning")
def test_quick_suite_runs_end_to_end_with_the_builtin_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The CI smoke run, `condsim bench --suite all --quick` with the shipped model: the real command
    line, model, suites, protocols and output files, in process and with `--quick` cut to the TINY
    sizes (the quick run's own sizes take minutes and are no behaviour of their own)."""
    import condsim.eval.bench

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(condsim.eval.bench, "QUICK", TINY)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["bench", "--suite", "all", "--quick", "--out", str(out)])
    assert result.exception is None and result.exit_code == 0, f"{result.exception!r}\n{result.output}"
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["settings"]["images"] == TINY.images
    assert results["meta"]["model_id"].startswith("condsim-scenes-")
    assert set(results["clevr4"]["color"]) >= RETRIEVAL_KEYS
    assert (out / "report.md").is_file()


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
    assert set(results["clustering"][name]["colour"]) == {"plain", "crl", "clay", "zero-shot-match"}
    assert "sensitivity" not in results  # the user's data has no validation split
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


@pytest.mark.filterwarnings("ignore::condsim.errors.CondsimWarning")
def test_held_out_domain_suite_runs_every_method(fake_encoder) -> None:  # type: ignore[no-untyped-def]
    """``flat``: drawings the built-in model never saw, labelled by colour and shape."""
    results = run_bench(["flat"], fake_encoder, settings=TINY, show_progress=False)
    assert set(results["flat"]) == {"color", "shape"}
    assert set(results["flat"]["shape"]) == set(METHODS)
    assert set(results["multi_condition"]["flat"]) == {"color+shape"}
    assert results["meta"]["suites"]["flat"]["dataset"] == {"n": TINY.held_out_images}
    assert results["meta"]["suites"]["flat"]["classes"] == {"color": 10, "shape": 4}


def test_validation_seeds_are_neither_training_nor_test_seeds() -> None:
    from condsim.data.datasets import DEFAULT_SEEDS
    from condsim.data.seeds import TRAINING_SEEDS, TrainingSeedError
    from condsim.eval.sensitivity import VALIDATION_SEEDS, check_validation_seed

    for dataset, seed in VALIDATION_SEEDS.items():
        assert check_validation_seed(dataset, seed) == seed
        assert seed not in TRAINING_SEEDS and seed != DEFAULT_SEEDS[dataset]
    with pytest.raises(InvalidInputError, match="test images"):
        check_validation_seed("clevr4", DEFAULT_SEEDS["clevr4"])
    with pytest.raises(TrainingSeedError):
        check_validation_seed("cards", min(TRAINING_SEEDS))


@pytest.mark.filterwarnings("ignore::condsim.errors.CondsimWarning")
def test_worker_processes_give_the_same_results(fake_encoder) -> None:  # type: ignore[no-untyped-def]
    """jobs > 1 runs the protocols in spawned worker processes; the results do not depend on it."""
    serial = run_bench(["cards"], fake_encoder, settings=TINY, show_progress=False)
    parallel = run_bench(["cards"], fake_encoder, settings=TINY, show_progress=False, jobs=2)
    for results in (serial, parallel):
        assert results["meta"].pop("jobs") in (1, 2)
        results["meta"].pop("seconds")
        for suite in results["meta"]["suites"].values():
            suite.pop("seconds_embedding"), suite.pop("seconds_protocols")
    assert json.dumps(serial) == json.dumps(parallel)
    with pytest.raises(InvalidInputError, match="jobs"):
        run_bench(["cards"], fake_encoder, settings=TINY, show_progress=False, jobs=0)
