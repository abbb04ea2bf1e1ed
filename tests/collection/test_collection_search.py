"""Collection.similar / search / similar_batch: results against float64 references, caching, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from condsim.collection import Collection, EmbeddedCondition, Store, index_folder
from condsim.conditions.condition import Condition
from condsim.errors import InvalidInputError, StoreError, StoreModelMismatchError
from condsim.methods import SpaceOptions, make_space

K_SPACE = 4


@pytest.fixture
def indexed(image_folder: Path, tmp_path: Path, make_encoder: Any) -> tuple[Path, Path]:
    store = tmp_path / "store"
    index_folder(image_folder, store, make_encoder(), batch_size=5, show_progress=False)
    return image_folder, store


def _prompts(seed: int, count: int = 9, dim: int = 16) -> np.ndarray:
    matrix = np.random.default_rng(seed).standard_normal((count, dim))
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def _database(store_dir: Path) -> tuple[np.ndarray, list[str]]:
    with Store.open(store_dir) as store:
        items = store.items()
        return store.vectors([i.row for i in items]).astype(np.float64), [i.abspath for i in items]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _clay_reference(prompts: np.ndarray, images: np.ndarray, k: int) -> np.ndarray:
    """Slow float64 CLAY (Eq. 3-5): Householder µ_db -> µ_c, log map at µ_c, top-k SVD, cosine of z."""
    prompts = _unit(prompts.astype(np.float64))
    mu = _unit(prompts.mean(axis=0))
    mean_db = _unit(images.mean(axis=0))

    def log_map(points: np.ndarray) -> np.ndarray:
        cos = np.clip(points @ mu, -1.0, 1.0)
        theta = np.arccos(cos)
        scale = np.where(theta > 1e-8, theta / np.sin(np.maximum(theta, 1e-12)), 1.0)
        return (points - np.outer(cos, mu)) * scale[:, None]

    _, _, right = np.linalg.svd(log_map(prompts), full_matrices=False)
    basis = right[:k].T
    u = _unit(mean_db - mu)
    aligned = images - 2.0 * np.outer(images @ u, u)
    z = _unit(log_map(_unit(aligned)) @ basis)
    return z @ z.T


def test_plain_similar_matches_cosine(indexed: tuple[Path, Path], make_encoder: Any) -> None:
    folder, store = indexed
    images, paths = _database(store)
    encoder = make_encoder()
    with Collection.open(store, encoder) as collection:
        query = folder / "a" / "img03.png"
        results = collection.similar(query, k=5, keep_duplicates=True)
    assert encoder.images_embedded == 0  # stored embedding reused
    q = paths.index(str(query))
    expected = np.argsort(-(images @ images[q]))
    expected = [paths[i] for i in expected if i != q][:5]
    assert [r.path for r in results] == expected
    np.testing.assert_allclose(
        [r.score for r in results],
        sorted((images @ images[q])[[paths.index(p) for p in expected]], reverse=True),
        rtol=1e-5,
    )
    assert all(r.contributions == {} for r in results)


def test_query_outside_store_is_encoded(
    indexed: tuple[Path, Path], make_encoder: Any, make_image: Any, tmp_path: Path
) -> None:
    _, store = indexed
    outside = make_image(tmp_path / "outside.png", (220, 30, 30), seed=50)
    encoder = make_encoder()
    with Collection.open(store, encoder) as collection:
        results = collection.similar(outside, k=12, keep_duplicates=True)
    assert encoder.images_embedded == 1 and len(results) == 12


def test_clay_similarity_matches_reference(indexed: tuple[Path, Path], make_encoder: Any) -> None:
    folder, store = indexed
    images, paths = _database(store)
    prompts = _prompts(1)
    condition = EmbeddedCondition("planted", prompts)
    with Collection.open(store, make_encoder(), clay_k=K_SPACE) as collection:
        query = folder / "b" / "deep" / "img04.png"
        results = collection.similar(query, by=[condition], k=11, keep_duplicates=True)
    q = paths.index(str(query))
    reference = _clay_reference(prompts, images, K_SPACE)[q]
    assert len(results) == 11 and str(query) not in {r.path for r in results}
    for result in results:
        assert result.score == pytest.approx(reference[paths.index(result.path)], abs=1e-5)
        assert result.contributions == {"planted": pytest.approx(result.score)}
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)


def test_crl_similarity_matches_reference(indexed: tuple[Path, Path], make_encoder: Any) -> None:
    folder, store = indexed
    images, paths = _database(store)
    prompts = _prompts(2, count=7)
    with Collection.open(store, make_encoder()) as collection:
        query = folder / "a" / "img01.png"
        results = collection.similar(query, by=EmbeddedCondition("c", prompts), method="crl", k=4)
    represented = _unit(images @ prompts.astype(np.float64).T)
    reference = represented @ represented[paths.index(str(query))]
    for result in results:
        assert result.score == pytest.approx(reference[paths.index(result.path)], abs=1e-5)


def test_weighted_sum_contributions(indexed: tuple[Path, Path], make_encoder: Any) -> None:
    folder, store = indexed
    first, second = EmbeddedCondition("first", _prompts(3)), EmbeddedCondition("second", _prompts(4))
    query = folder / "a" / "img05.png"
    with Collection.open(store, make_encoder(), clay_k=K_SPACE) as collection:
        options: dict[str, Any] = {"k": 11, "keep_duplicates": True}
        combined = collection.similar(query, by=[first, second], weights={"first": 3, "second": 1}, **options)
        alone_first = {r.path: r.score for r in collection.similar(query, by=[first], **options)}
        alone_second = {r.path: r.score for r in collection.similar(query, by=[second], **options)}
        stacked = collection.similar(query, by=[first, second], combine="stack", k=3)
        explicit = collection.similar(
            query, by=[first, second], weights={"first": 3, "second": 1}, combine="mean", **options
        )
        default = collection.similar(query, by=[first, second], k=3)
        with pytest.raises(InvalidInputError, match="combine") as caught:
            collection.similar(query, by=[first, second], combine="sum", k=3)
        assert "'mean'" in (caught.value.hint or "")  # one name for the weighted mean, as in ClaySpace
        with pytest.raises(InvalidInputError, match="stack"):
            collection.similar(query, by=[first, second], weights={"first": 1}, combine="stack", k=3)
    assert explicit == combined  # weights select "mean"
    assert default == stacked  # without weights, the paper's stacked subspace is the default
    for result in combined:
        assert sum(result.contributions.values()) == pytest.approx(result.score, abs=1e-6)
        assert result.contributions["first"] == pytest.approx(0.75 * alone_first[result.path], abs=1e-5)
        assert result.contributions["second"] == pytest.approx(0.25 * alone_second[result.path], abs=1e-5)
    assert set(stacked[0].contributions) == {"first+second"}


def test_negative_condition(indexed: tuple[Path, Path], make_encoder: Any) -> None:
    folder, store = indexed
    positive, negative = EmbeddedCondition("shape", _prompts(5)), EmbeddedCondition("color", _prompts(6, 3))
    query = folder / "a" / "img05.png"
    with Collection.open(store, make_encoder(), clay_k=K_SPACE) as collection:
        plain = collection.similar(query, by=[positive], k=11)
        without = collection.similar(query, by=[positive], not_=[negative], k=11)
        assert [r.score for r in plain] != pytest.approx([r.score for r in without])
        with pytest.raises(InvalidInputError, match="method='clay'"):
            collection.similar(query, by=[positive], not_=[negative], method="crl", k=3)


def test_cache_hit_and_invalidation(indexed: tuple[Path, Path], make_encoder: Any, make_image: Any) -> None:
    folder, store = indexed
    condition = EmbeddedCondition("planted", _prompts(7))
    query = folder / "a" / "img03.png"
    with Collection.open(store, make_encoder(), clay_k=K_SPACE) as collection:
        first = collection.similar(query, by=[condition], k=5)
        assert collection.cache_info()["z"] == {"memory_hits": 0, "disk_hits": 0, "computed": 1}
        second = collection.similar(query, by=[condition], k=5)
        assert (
            collection.cache_info()["z"]["computed"] == 1 and collection.cache_info()["z"]["memory_hits"] == 1
        )
        assert first == second
    with Collection.open(store, make_encoder(), clay_k=K_SPACE) as reopened:  # a new process: disk cache
        assert reopened.similar(query, by=[condition], k=5) == first
        assert reopened.cache_info()["z"] == {"memory_hits": 0, "disk_hits": 1, "computed": 0}
        old_files = sorted(p.name for p in (store / "cache").glob("z-*.npy"))
        make_image(folder / "added.png", (10, 10, 240), seed=77)
        index_folder(folder, store, make_encoder(), show_progress=False)
        after = reopened.similar(query, by=[condition], k=5)  # the open collection notices the re-index
        assert reopened.cache_info()["z"]["computed"] == 1
        assert len(reopened) == 13 and after != first
        new_files = sorted(p.name for p in (store / "cache").glob("z-*.npy"))
        assert len(new_files) == 1 and new_files != old_files


def test_condition_objects_embed_prompts_once(indexed: tuple[Path, Path], make_encoder: Any) -> None:
    folder, store = indexed
    condition = Condition("tint", tuple(f"tint number {i}" for i in range(8)))
    encoder = make_encoder()
    with Collection.open(store, encoder, clay_k=K_SPACE) as collection:
        collection.similar(folder / "a" / "img01.png", by=[condition], k=3)
        collection.similar(folder / "a" / "img01.png", by=[condition], method="crl", k=3)
    assert encoder.texts_embedded == 16  # clay + crl prompts, once each
    again = make_encoder()
    with Collection.open(store, again, clay_k=K_SPACE) as collection:
        collection.similar(folder / "a" / "img01.png", by=[condition], k=3)
    assert again.texts_embedded == 0  # prompt embeddings come from the on-disk cache


def test_search_by_text(indexed: tuple[Path, Path], make_encoder: Any) -> None:
    _, store = indexed
    images, paths = _database(store)
    encoder = make_encoder()
    text = encoder.encode_texts(["a red square"])[0].astype(np.float64)
    with Collection.open(store, make_encoder(), clay_k=K_SPACE) as collection:
        results = collection.search("a red square", k=12, keep_duplicates=True)
        conditional = collection.search(
            "a red square", by=[EmbeddedCondition("c", _prompts(8))], k=12, keep_duplicates=True
        )
        with pytest.raises(InvalidInputError):
            collection.search("   ")
    reference = images @ text
    assert [r.path for r in results] == [paths[i] for i in np.argsort(-reference)]
    assert results[0].score == pytest.approx(reference.max(), abs=1e-5)
    assert len(conditional) == 12 and all(-1.0001 <= r.score <= 1.0001 for r in conditional)


def test_similar_batch_shapes_and_agreement(indexed: tuple[Path, Path], make_encoder: Any) -> None:
    folder, store = indexed
    condition = EmbeddedCondition("planted", _prompts(9))
    queries = [folder / "a" / "img01.png", folder / "b" / "deep" / "img02.png"]
    with Collection.open(store, make_encoder(), clay_k=K_SPACE) as collection:
        scores, rows = collection.similar_batch(queries, by=[condition], k=4)
        assert scores.shape == rows.shape == (2, 4) and rows.dtype == np.int64
        single = collection.similar(queries[1], by=[condition], k=4)
        assert [r.row for r in single] == rows[1].tolist()
        assert [collection.path(int(r)) for r in rows[1]] == [r.path for r in single]
        vectors = Store.open(store).vectors([0, 1])
        scores, rows = collection.similar_batch(vectors, k=3)
        assert rows[:, 0].tolist() == [0, 1]  # an embedding query is not excluded from its results
        scores, rows = collection.similar_batch(queries, k=12)
        assert rows[:, -1].tolist() == [-1, -1] and np.isneginf(scores[:, -1]).all()


def test_k_and_argument_validation(indexed: tuple[Path, Path], make_encoder: Any) -> None:
    folder, store = indexed
    query = folder / "a" / "img01.png"
    condition = EmbeddedCondition("c", _prompts(10))
    with Collection.open(store, make_encoder(), clay_k=K_SPACE) as collection:
        for bad in (0, -1, True, 2.5):
            with pytest.raises(InvalidInputError, match="k="):
                collection.similar(query, k=bad)  # type: ignore[arg-type]
        # more than the collection holds: every other image, best first, no error
        everything = collection.similar(query, k=len(collection) + 5, keep_duplicates=True)
        assert len(everything) == len(collection) - 1
        assert [r.score for r in everything] == sorted((r.score for r in everything), reverse=True)
        with pytest.raises(InvalidInputError, match="unknown method"):
            collection.similar(query, by=[condition], method="magic", k=3)
        with pytest.raises(InvalidInputError, match="plain"):
            collection.similar(query, by=[condition], method="plain", k=3)
        with pytest.raises(InvalidInputError, match="weights"):
            collection.similar(query, by=[condition], weights={"other": 1.0}, k=3)
        with pytest.raises(InvalidInputError, match="twice"):
            collection.similar(query, by=[condition, condition], k=3)
        with pytest.raises(InvalidInputError):
            collection.similar(np.zeros(16, np.float32), k=3)
        with pytest.raises(InvalidInputError):
            collection.similar(query, by=[EmbeddedCondition("wrong", _prompts(1, dim=8))], k=3)


def test_ties_go_to_the_lower_row(tmp_path: Path, make_encoder: Any, make_image: Any) -> None:
    """One tie rule (`condsim.methods.top_k`): equal scores are ranked by store row, lower first."""
    folder = tmp_path / "copies"
    source = make_image(folder / "original.png", (200, 40, 40), seed=3)
    for index in range(5):
        (folder / f"copy{index}.png").write_bytes(source.read_bytes())
    make_image(folder / "other.png", (20, 200, 40), seed=4)
    index_folder(folder, tmp_path / "store", make_encoder(), show_progress=False)
    with Collection.open(tmp_path / "store", make_encoder(), cache_on_disk=False) as collection:
        query = Store.open(tmp_path / "store").vectors([0])
        for k in (2, 4, 6):
            scores, rows = collection.similar_batch(query, k=k)
            tied = rows[0][scores[0] == scores[0, 0]]
            assert len(tied) == min(k, 6) and tied.tolist() == sorted(tied.tolist())


def test_features_come_from_the_registered_spaces(indexed: tuple[Path, Path], make_encoder: Any) -> None:
    _, store = indexed
    images, _ = _database(store)
    condition = EmbeddedCondition("c", _prompts(12), _prompts(13, count=6))
    with Collection.open(store, make_encoder(), clay_k=K_SPACE) as collection:
        options = SpaceOptions(clay_k=K_SPACE)
        for method in ("clay", "crl"):
            _, features = collection.features(condition, method=method)
            space = make_space(method, options).fit(
                condition.prompts_for(method), image_mean=collection.image_mean()
            )
            np.testing.assert_allclose(features, space.transform(images.astype(np.float32)), atol=1e-6)
        _, fewshot = collection.features(condition, method="crl", crl_normalize="fewshot")
        reference = make_space("crl", SpaceOptions(crl_normalize="fewshot")).fit(condition.prompts_for("crl"))
        np.testing.assert_allclose(fewshot, reference.transform(images.astype(np.float32)), atol=1e-6)
        with pytest.raises(InvalidInputError, match="unknown method 'rerank'"):
            collection.features(condition, method="rerank")


def test_open_errors(indexed: tuple[Path, Path], make_encoder: Any, tmp_path: Path) -> None:
    _, store = indexed
    with pytest.raises(StoreModelMismatchError):
        Collection.open(store, make_encoder(model_id="another-model"))
    with pytest.raises(StoreError, match="no store") as caught:
        Collection.open(tmp_path / "missing")
    assert "condsim index" in (caught.value.hint or "")
    empty = tmp_path / "empty-store"
    Store.create(empty, "fake:test", 16).close()
    with Collection.open(empty, make_encoder()) as collection, pytest.raises(StoreError, match="no images"):
        collection.similar(np.ones(16, np.float32), k=1)


def test_search_with_holes_and_float16(image_folder: Path, tmp_path: Path, make_encoder: Any) -> None:
    store = tmp_path / "store16"
    index_folder(image_folder, store, make_encoder(), dtype="float16", show_progress=False)
    (image_folder / "a" / "img01.png").unlink()
    index_folder(image_folder, store, make_encoder(), compact_ratio=1.0, show_progress=False)
    images, paths = _database(store)
    with Store.open(store) as raw:
        assert raw.holes() == 1
    with Collection.open(store, make_encoder()) as collection:
        assert len(collection) == 11
        query = image_folder / "a" / "img03.png"
        results = collection.similar(query, k=10, keep_duplicates=True)
    q = paths.index(str(query))
    order = [paths[i] for i in np.argsort(-(images @ images[q])) if i != q]
    assert [r.path for r in results] == order


def test_rerank_method(indexed: tuple[Path, Path], make_encoder: Any) -> None:
    folder, store = indexed
    condition = EmbeddedCondition("planted", _prompts(11))
    query = folder / "a" / "img03.png"
    with Collection.open(
        store, make_encoder(), clay_k=K_SPACE, rerank_weight=0.0, rerank_neighbors=3
    ) as same:
        clay = same.similar(query, by=[condition], k=6)
        unchanged = same.similar(query, by=[condition], method="rerank", k=6)
    assert [r.path for r in unchanged] == [r.path for r in clay]  # weight 0 keeps the first stage
    np.testing.assert_allclose([r.score for r in unchanged], [r.score for r in clay], atol=1e-5)
    with Collection.open(
        store, make_encoder(), clay_k=K_SPACE, rerank_weight=0.5, rerank_neighbors=3
    ) as mixed:
        results = mixed.similar(query, by=[condition], method="rerank", k=6)
        plain_rerank = mixed.similar(query, method="rerank", k=6)
    first_stage = {r.path: r.score for r in mixed_clay(store, make_encoder, condition, query)}
    for result in results:
        assert sum(result.contributions.values()) == pytest.approx(result.score, abs=1e-5)
        assert result.contributions["planted"] == pytest.approx(0.5 * first_stage[result.path], abs=1e-5)
        assert -1.0001 <= result.contributions["neighbourhood"] / 0.5 <= 1.0001
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    assert len(plain_rerank) == 6 and str(query) not in {r.path for r in plain_rerank}


def mixed_clay(store: Path, make_encoder: Any, condition: EmbeddedCondition, query: Path) -> list[Any]:
    with Collection.open(store, make_encoder(), clay_k=K_SPACE) as collection:
        return collection.similar(query, by=[condition], k=11)


def test_condition_by_builtin_name(indexed: tuple[Path, Path], make_encoder: Any) -> None:
    folder, store = indexed
    from condsim.conditions import resolve_condition

    color = resolve_condition("color")
    with Collection.open(store, make_encoder(), clay_k=K_SPACE) as collection:
        by_name = collection.similar(folder / "a" / "img01.png", by=["color"], k=5)
        by_object = collection.similar(folder / "a" / "img01.png", by=[color], k=5)
    assert by_name == by_object and set(by_name[0].contributions) == {color.name}
