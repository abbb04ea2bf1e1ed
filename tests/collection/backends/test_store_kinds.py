"""The same product on every store kind: index a folder, then the same conditional query returns the
same images from a local store, Milvus Lite, and Milvus over gRPC on 127.0.0.1 (`milvus://`); an
unreachable Milvus is one clear error (exit code 2) that leaves the local files untouched."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import condsim.cli as cli
from condsim.collection import Collection, index_folder
from condsim.data.scenes import render_scene, scene_spec_at
from condsim.encoders import load_encoder
from condsim.errors import StoreError

MODEL = "fake:scale@64"
SEED = 4242
N_IMAGES = 24


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 rendered 48 px Clevr-like scenes (colour, shape, texture, count labels)."""
    folder = tmp_path_factory.mktemp("scenes") / "images"
    folder.mkdir()
    for index in range(N_IMAGES):
        render_scene(scene_spec_at(SEED, index), 48).save(folder / f"scene_{index:02d}.png")
    return folder


def top(spec: str, folder: Path, **query: object) -> list[tuple[str, float]]:
    with Collection.open(spec, load_encoder(MODEL)) as collection:
        hits = collection.similar(str(folder / "scene_03.png"), k=5, **query)  # type: ignore[arg-type]
        return [(Path(hit.path).name, round(hit.score, 4)) for hit in hits]


@pytest.mark.parametrize("kind", ["milvus-lite", "milvus-grpc"])
def test_milvus_answers_like_the_local_store(
    kind: str, scenes: Path, tmp_path: Path, spec_for: Callable[[str], str]
) -> None:
    local = str(tmp_path / "local.condsim")
    remote = spec_for(kind)
    for spec in (local, remote):
        report = index_folder(scenes, spec, load_encoder(MODEL), show_progress=False, batch_size=5)
        assert report.indexed == N_IMAGES and report.total == N_IMAGES
    for query in ({"by": ["color"]}, {"by": ["color", "shape"]}, {"method": "plain"}, {"by": ["shape"]}):
        assert top(remote, scenes, **query) == top(local, scenes, **query), query

    with Collection.open(remote, load_encoder(MODEL)) as collection:
        hits = collection.search("red", by=["color"], k=5)
        with Collection.open(local, load_encoder(MODEL)) as reference:
            assert [h.path for h in hits] == [h.path for h in reference.search("red", by=["color"], k=5)]
        # the running mean equals the mean of the stored vectors
        vectors = collection.backend.vectors(collection.backend.live_rows())
        mean = vectors.sum(axis=0) / np.linalg.norm(vectors.sum(axis=0))
        np.testing.assert_allclose(collection.image_mean(), mean, atol=1e-5)

    (scenes / "scene_23.png").rename(tmp_path / "moved-away.png")
    try:
        again = index_folder(scenes, remote, load_encoder(MODEL), show_progress=False)
        assert again.indexed == 0 and again.removed == 1 and again.total == N_IMAGES - 1
        index_folder(scenes, local, load_encoder(MODEL), show_progress=False)
        assert top(remote, scenes, by=["color"]) == top(local, scenes, by=["color"])
    finally:
        (tmp_path / "moved-away.png").rename(scenes / "scene_23.png")


def test_cli_index_and_similar_on_milvus_lite(scenes: Path, lite_spec: str) -> None:
    runner = CliRunner()
    indexed = runner.invoke(cli.app, ["index", str(scenes), "--store", lite_spec, "--model", MODEL])
    assert indexed.exit_code == 0, indexed.output
    similar = runner.invoke(
        cli.app, ["similar", str(scenes / "scene_03.png"), "--store", lite_spec, "--by", "color", "-k", "5"]
    )
    assert similar.exit_code == 0, similar.output
    assert sum("scene_" in line for line in similar.output.splitlines() if "│" in line) == 5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.usefixtures("milvus_installed")
def test_an_unreachable_milvus_is_one_clear_error(scenes: Path, capsys: pytest.CaptureFixture[str]) -> None:
    address = f"milvus://127.0.0.1:{free_port()}"
    before = sorted(p.name for p in scenes.iterdir())
    with pytest.raises(StoreError, match="cannot reach Milvus"):
        Collection.open(address)
    with pytest.raises(SystemExit) as exited:
        cli.main(["index", str(scenes), "--store", address, "--model", MODEL])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err
    assert "cannot reach Milvus" in err and "hint:" in err
    assert sorted(p.name for p in scenes.iterdir()) == before  # nothing written beside the images
