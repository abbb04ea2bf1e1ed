"""The contract every registered conditional space keeps (scikit-learn's shared estimator checks, run
over `condsim.methods.SPACES`): fit/transform shapes and dtypes, unit rows, texts in the same space,
determinism, the not-fitted error, and bad inputs refused with a `CondsimError`."""

from __future__ import annotations

import numpy as np
import pytest

from condsim.errors import DimensionMismatchError, InvalidInputError, NotFittedError
from condsim.methods import (
    CONDITIONAL_METHODS,
    FEATURE_METHODS,
    QUERY_METHODS,
    SPACES,
    ConditionalSpace,
    EmbeddedCondition,
    SpaceOptions,
    check_method,
    make_space,
    normalize_weights,
    normalized_mean,
)
from helpers import unit

DIM = 24
OPTIONS = SpaceOptions(clay_k=5)


PROMPTS = unit(np.random.default_rng(0), 12, DIM).astype(np.float32)
IMAGES = unit(np.random.default_rng(1), 40, DIM).astype(np.float32)
TEXTS = unit(np.random.default_rng(2), 6, DIM).astype(np.float32)


def _fitted(name: str, options: SpaceOptions = OPTIONS, prompts: np.ndarray = PROMPTS) -> ConditionalSpace:
    space = make_space(name, options)
    return space.fit(prompts, image_mean=normalized_mean(IMAGES))


@pytest.fixture(params=sorted(SPACES))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_fit_returns_the_space_and_follows_the_protocol(name: str) -> None:
    space = make_space(name, OPTIONS)
    assert space.fit(PROMPTS, image_mean=normalized_mean(IMAGES)) is space
    assert isinstance(space, ConditionalSpace)  # the protocol's fitted attributes exist after fit
    assert space.n_features_in_ == DIM
    assert isinstance(space.fingerprint_, str) and len(space.fingerprint_) == 64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_gives_float32_unit_rows_of_one_width(name: str, dtype: type) -> None:
    space = _fitted(name)
    images = space.transform(IMAGES.astype(dtype))
    texts = space.transform_texts(TEXTS.astype(dtype))
    assert images.dtype == np.float32 and texts.dtype == np.float32
    assert images.shape[0] == len(IMAGES) and texts.shape[0] == len(TEXTS)
    assert images.shape[1] == texts.shape[1] >= 1
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)


def test_similarity_is_the_cosine_of_transformed_rows(name: str) -> None:
    space = _fitted(name)
    expected = space.transform(IMAGES[:5]) @ space.transform(IMAGES).T
    similarity = space.similarity(IMAGES[:5], IMAGES)
    assert similarity.shape == (5, len(IMAGES)) and similarity.dtype == np.float32
    np.testing.assert_allclose(similarity, expected, atol=1e-5)


def test_texts_and_images_share_the_space_when_nothing_aligns_images(name: str) -> None:
    """Without an image alignment (CLAY's H), a text and an image with the same embedding land on
    the same row: transform_texts is the text side of the very same space."""
    space = _fitted(name, SpaceOptions(clay_k=5, alignment="none"))
    np.testing.assert_allclose(space.transform_texts(TEXTS), space.transform(TEXTS), atol=1e-6)


def test_fit_and_transform_are_deterministic(name: str) -> None:
    first, second = _fitted(name), _fitted(name)
    assert first.fingerprint_ == second.fingerprint_
    np.testing.assert_array_equal(first.transform(IMAGES), second.transform(IMAGES))
    np.testing.assert_array_equal(first.transform(IMAGES), first.transform(IMAGES))
    np.testing.assert_array_equal(first.transform_texts(TEXTS), second.transform_texts(TEXTS))


def test_row_transforms_do_not_depend_on_the_batch(name: str) -> None:
    space = _fitted(name)
    whole = space.transform(IMAGES)
    np.testing.assert_allclose(
        np.vstack([space.transform(IMAGES[:7]), space.transform(IMAGES[7:])]), whole, atol=1e-6
    )


def test_the_fingerprint_follows_what_transform_uses(name: str) -> None:
    other = _fitted(name, prompts=unit(np.random.default_rng(9), 12, DIM).astype(np.float32))
    if name == "plain":  # plain similarity does not depend on the prompts' values
        assert other.fingerprint_ == _fitted(name).fingerprint_
    else:
        assert other.fingerprint_ != _fitted(name).fingerprint_


def test_image_mean_is_needed_exactly_when_declared(name: str) -> None:
    space = make_space(name, OPTIONS)
    if space.needs_image_mean:
        with pytest.raises(InvalidInputError, match="image_mean"):
            space.fit(PROMPTS)
    else:
        without = space.fit(PROMPTS).transform(IMAGES)
        np.testing.assert_array_equal(without, _fitted(name).transform(IMAGES))


def test_an_unfitted_space_says_so(name: str) -> None:
    space = make_space(name, OPTIONS)
    for call in (space.transform, space.transform_texts):
        with pytest.raises(NotFittedError, match="fit"):
            call(IMAGES)


def test_bad_inputs_are_refused(name: str) -> None:
    space = _fitted(name)
    with_nan = IMAGES.copy()
    with_nan[3, 2] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        space.transform(with_nan)
    with pytest.raises(DimensionMismatchError):
        space.transform(unit(np.random.default_rng(5), 4, DIM + 1).astype(np.float32))
    with pytest.raises(DimensionMismatchError):
        space.transform_texts(unit(np.random.default_rng(5), 4, DIM - 1).astype(np.float32))
    with pytest.raises(InvalidInputError):
        space.transform(IMAGES[0])  # one vector, not a (1, d) matrix
    with pytest.raises(InvalidInputError):
        make_space(name, OPTIONS).fit(np.zeros((0, DIM), dtype=np.float32))
    with pytest.raises(InvalidInputError):
        make_space(name, OPTIONS).fit(PROMPTS[:, :, None])


def test_negative_conditions_only_where_they_mean_something(name: str) -> None:
    space = make_space(name, OPTIONS)
    negative = unit(np.random.default_rng(3), 6, DIM).astype(np.float32)
    if name == "clay":
        fitted = space.fit(PROMPTS, image_mean=normalized_mean(IMAGES), negative_prompt_embeddings=negative)
        assert fitted.fingerprint_ != _fitted(name).fingerprint_
    else:
        with pytest.raises(InvalidInputError, match="negative"):
            space.fit(PROMPTS, negative_prompt_embeddings=negative)


def test_the_method_names_are_defined_once_from_the_registry() -> None:
    assert FEATURE_METHODS == tuple(SPACES) == ("plain", "crl", "clay")
    assert CONDITIONAL_METHODS == ("crl", "clay")
    assert set(SPACES) < set(QUERY_METHODS) and "rerank" in QUERY_METHODS
    assert check_method("rerank") == "rerank"
    with pytest.raises(InvalidInputError, match="unknown method 'pca'"):
        check_method("pca")
    with pytest.raises(InvalidInputError, match="rerank"):
        check_method("rerank", FEATURE_METHODS)
    with pytest.raises(InvalidInputError, match="unknown space"):
        make_space("rerank")


def test_an_embedded_condition_gives_each_space_its_prompts() -> None:
    crl = unit(np.random.default_rng(4), 5, DIM).astype(np.float32)
    condition = EmbeddedCondition("colour", PROMPTS, crl)
    assert condition.prompts_for("crl") is crl
    assert condition.prompts_for("clay") is PROMPTS and condition.prompts_for("plain") is PROMPTS
    assert EmbeddedCondition("colour", PROMPTS).prompts_for("crl") is PROMPTS


def test_weights_are_normalised_in_one_place() -> None:
    np.testing.assert_allclose(normalize_weights(None, 4), [0.25] * 4)
    np.testing.assert_allclose(normalize_weights([3.0, 1.0], 2), [0.75, 0.25])
    np.testing.assert_allclose(normalize_weights([1e308, 1e308, 0.0], 3), [0.5, 0.5, 0.0])  # no overflow
    np.testing.assert_allclose(normalize_weights([1e-320, 3e-320], 2), [0.25, 0.75], rtol=1e-3)
    for bad in ([1.0], [1.0, -1.0], [0.0, 0.0], [np.nan, 1.0]):
        with pytest.raises(InvalidInputError, match="weights"):
            normalize_weights(bad, 2)
