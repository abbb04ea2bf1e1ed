"""Hypothesis fuzzing of store metadata and cache files (issue 11): whatever a key or a cache file
holds (random text, numbers, paths, missing keys; random bytes, truncation, arrays of other shapes
and dtypes), the only outcomes are the clean answer, a recompute (the same answer), or one
`CondsimError` line, which the command line turns into exit code 2."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import condsim.cli as cli
from condsim.collection import Collection, index_folder
from condsim.collection.store import CACHE_DIR, DATABASE_FILE
from condsim.errors import CondsimError
from faults.harness import DIM, make_folder

MODEL = f"fake:fuzz@{DIM}"
META_KEYS = [
    "format_version",
    "model_id",
    "dim",
    "dtype",
    "store_id",
    "version",
    "n_rows",
    "generation",
    "embeddings_file",
    "root",
    "created_at",
    "updated_at",
]
META_VALUES = st.one_of(
    st.none(),  # the key is deleted
    st.text(max_size=30),
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1e9",
            "nan",
            "float64",
            "float16",
            "int8",
            "../victim",
            "/etc/passwd",
            "store.sqlite",
            "embeddings-1.f32",
            ".lock",
            "cache",
            "fake:other@16",
            f"{DIM * 2}",
            f"{DIM // 2}",
        ]
    ),
)
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)


@pytest.fixture(scope="module")
def clean_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, dict[str, list]]]:
    """(images, store with warm caches, the clean answers of a plain and a conditional query)."""
    from condsim.encoders import load_encoder

    root = tmp_path_factory.mktemp("fuzz")
    folder = make_folder(root / "photos", 16)
    store = root / "store"
    index_folder(folder, store, load_encoder(MODEL), show_progress=False)
    answers = {by or "plain": _answer(folder, store, by) for by in (None, "color")}
    yield folder, store, answers


def _query(folder: Path) -> str:
    return str(sorted(folder.rglob("*.png"))[0])


def _answer(folder: Path, store: Path, by: str | None) -> list[tuple[str, float]]:
    with Collection.open(store) as collection:
        return [(hit.relpath, round(hit.score, 5)) for hit in collection.similar(_query(folder), by=by, k=8)]


def _copy(store: Path, into: Path) -> Path:
    copy = into / "store"
    shutil.copytree(store, copy)
    return copy


def _outcome_is_allowed(folder: Path, store: Path, answers: dict[str, list]) -> None:
    """Each query gives the clean answer or one CondsimError line; the CLI exits 0 or 2."""
    for by in (None, "color"):
        try:
            answer = _answer(folder, store, by)
        except CondsimError as error:
            assert "\n" not in str(error) and "\n" not in (error.hint or ""), repr(error)
        else:
            assert answer == answers[by or "plain"]
    with pytest.raises(SystemExit) as exited:
        cli.main(["similar", _query(folder), "--store", str(store), "-k", "8", "--model", MODEL])
    assert exited.value.code in (0, 2)


@FUZZ
@given(key=st.sampled_from(META_KEYS), value=META_VALUES)
def test_fuzzed_metadata(
    clean_store: tuple[Path, Path, dict[str, list]],
    key: str,
    value: str | None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, store, answers = clean_store
    with tempfile.TemporaryDirectory() as scratch:
        copy = _copy(store, Path(scratch))
        connection = sqlite3.connect(copy / DATABASE_FILE)
        with connection:
            if value is None:
                connection.execute("DELETE FROM meta WHERE key=?", (key,))
            else:
                connection.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
        connection.close()
        _outcome_is_allowed(folder, copy, answers)
        err = capsys.readouterr().err
        assert "Traceback" not in err
        outside = Path(scratch) / "victim"
        assert not outside.exists()


ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.uint8]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=20),
    elements=None,
)


@FUZZ
@given(
    damage=st.one_of(
        st.binary(max_size=400).map(lambda data: ("bytes", data)),
        st.floats(min_value=0.0, max_value=1.0).map(lambda cut: ("truncate", cut)),
        ARRAYS.map(lambda array: ("array", array)),
    ),
    which=st.integers(min_value=0, max_value=100),
)
def test_fuzzed_cache_files(
    clean_store: tuple[Path, Path, dict[str, list]],
    damage: tuple[str, object],
    which: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, store, answers = clean_store
    with tempfile.TemporaryDirectory() as scratch:
        copy = _copy(store, Path(scratch))
        files = sorted((copy / CACHE_DIR).glob("*.npy"))
        assert files
        target = files[which % len(files)]
        kind, payload = damage
        if kind == "bytes":
            target.write_bytes(payload)  # type: ignore[arg-type]
        elif kind == "truncate":
            data = target.read_bytes()
            target.write_bytes(data[: int(len(data) * payload)])  # type: ignore[operator]
        else:
            with open(target, "wb") as handle:
                np.save(handle, payload, allow_pickle=False)
        for by in (None, "color"):  # a damaged cache is recomputed: always the clean answer
            assert _answer(folder, copy, by) == answers[by or "plain"]
        with pytest.raises(SystemExit) as exited:
            cli.main(["similar", _query(folder), "--store", str(copy), "--by", "color", "-k", "8"])
        assert exited.value.code == 0, capsys.readouterr().err
