"""ClaySpace and CrlSpace follow scikit-learn's estimator conventions (`condsim.methods.estimator`).

scikit-learn's own `check_estimator` runs over both, with these checks expected to fail, each for a
reason that is a decision of condsim, not an oversight:

* the checks that match scikit-learn's wording of an error (complex data, empty data, one sample,
  one feature, a 1-D input, a feature-count mismatch after fit): condsim raises the same exception
  type (`InvalidInputError` is a `ValueError`) with its own one-line message, shared by every
  method and the command line;
* `check_estimators_dtypes` and `check_dtype_object`: embeddings live on the unit sphere, so a zero
  row (which the check's integer data holds) or an object array is refused instead of cast;
* the sparse checks: embeddings are dense; a sparse matrix is refused with condsim's message.

The fit-related conventions that matter to users are asserted directly below: `clone`,
`get_params`/`set_params`, `fit_transform`, and use inside a `Pipeline`, with unchanged results.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.estimator_checks import check_estimator

from condsim.errors import CondsimWarning, InvalidInputError
from condsim.methods import SPACES, ClaySpace, CrlSpace, make_space, normalized_mean

_MESSAGE_WORDING = "condsim's own one-line message (same ValueError type) instead of scikit-learn's wording"
EXPECTED_FAILED_CHECKS = {
    "check_n_features_in_after_fitting": _MESSAGE_WORDING,
    "check_complex_data": _MESSAGE_WORDING,
    "check_estimators_empty_data_messages": _MESSAGE_WORDING,
    "check_fit2d_predict1d": _MESSAGE_WORDING,
    "check_estimators_dtypes": "a zero row has no direction on the sphere and is refused",
    "check_dtype_object": "embeddings are numeric arrays; object arrays are refused, not cast",
    "check_estimator_sparse_tag": "embeddings are dense; sparse input is refused with condsim's message",
    "check_estimator_sparse_array": "embeddings are dense; sparse input is refused with condsim's message",
    "check_estimator_sparse_matrix": "embeddings are dense; sparse input is refused with condsim's message",
}
CLAY_ONLY_EXPECTED = {
    "check_fit2d_1sample": "one prompt spans no direction: CLAY's own message says to give two",
    "check_fit2d_1feature": "a 1-d embedding spans no direction: CLAY's own message says so",
}


def _prompts(count: int = 40, dim: int = 16, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, dim))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    ("space", "expected"),
    [
        (ClaySpace(k=2, alignment="none"), {**EXPECTED_FAILED_CHECKS, **CLAY_ONLY_EXPECTED}),
        (CrlSpace(), EXPECTED_FAILED_CHECKS),
    ],
    ids=["clay", "crl"],
)
def test_scikit_learn_check_estimator(space: object, expected: dict[str, str]) -> None:
    results = check_estimator(space, expected_failed_checks=expected, on_fail=None)
    unexpected = [
        (result["check_name"], repr(result["exception"]))
        for result in results
        if result["status"] == "failed" and result["check_name"] not in expected
    ]
    assert not unexpected
    assert sum(result["status"] == "passed" for result in results) >= 30


@pytest.mark.parametrize(
    "space",
    [ClaySpace(k=5, alignment="rotation", manifold=True, negative_k=2), CrlSpace(normalize="fewshot")],
    ids=["clay", "crl"],
)
def test_clone_get_and_set_params(space: ClaySpace | CrlSpace) -> None:
    copy = clone(space)
    assert type(copy) is type(space) and copy is not space
    assert copy.get_params() == space.get_params()
    assert not hasattr(copy, "fingerprint_")
    if isinstance(space, ClaySpace):
        assert space.get_params()["k"] == 5 and space.get_params()["negative_k"] == 2
        assert copy.set_params(k=3).k == 3 and space.k == 5
        assert repr(space) == "ClaySpace(alignment='rotation', k=5, negative_k=2)"
    else:
        assert space.get_params() == {"normalize": "fewshot"}
        assert repr(space) == "CrlSpace(normalize='fewshot')"


def test_set_params_refuses_an_unknown_name_in_one_line() -> None:
    with pytest.raises(InvalidInputError, match="ClaySpace has no parameter 'rank'") as raised:
        ClaySpace().set_params(rank=10)
    assert "k" in (raised.value.hint or "") and "\n" not in str(raised.value)


def test_fit_transform_equals_fit_then_transform() -> None:
    prompts = _prompts()
    mean = normalized_mean(_prompts(seed=1))
    clay = ClaySpace(k=8).fit_transform(prompts, image_mean=mean)
    np.testing.assert_array_equal(clay, ClaySpace(k=8).fit(prompts, image_mean=mean).transform(prompts))
    crl = CrlSpace().fit_transform(prompts)
    np.testing.assert_array_equal(crl, CrlSpace().fit(prompts).transform(prompts))


def test_a_space_in_a_pipeline_gives_the_same_features() -> None:
    """A Pipeline fits the space step on X (prompts here) with its fit parameters routed by name,
    and the next step sees exactly the features the space alone computes."""
    prompts, images = _prompts(), _prompts(count=30, seed=2)
    mean = normalized_mean(images)
    pipeline = Pipeline(
        [("clay", ClaySpace(k=6)), ("kmeans", KMeans(n_clusters=3, n_init=2, random_state=0))]
    )
    pipeline.fit(prompts, clay__image_mean=mean)
    alone = ClaySpace(k=6).fit(prompts, image_mean=mean)
    np.testing.assert_array_equal(pipeline[:-1].transform(images), alone.transform(images))
    expected = KMeans(n_clusters=3, n_init=2, random_state=0).fit(alone.transform(prompts))
    np.testing.assert_array_equal(pipeline.predict(prompts), expected.predict(alone.transform(prompts)))
    crl_pipeline = make_pipeline(CrlSpace(), KMeans(n_clusters=2, n_init=2, random_state=0)).fit(prompts)
    assert crl_pipeline.predict(images).shape == (30,)


def test_fit_still_needs_the_image_mean_for_alignment() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CondsimWarning)
        with pytest.raises(InvalidInputError, match="needs image_mean"):
            make_pipeline(ClaySpace(k=4)).fit(_prompts())


@pytest.mark.parametrize("name", list(SPACES))
def test_every_registered_space_clones_and_fit_transforms(name: str) -> None:
    """The registry's contract: whatever a name builds is a scikit-learn-style estimator."""
    space = make_space(name)
    copy = clone(space)
    assert type(copy) is type(space) and copy.get_params() == space.get_params()
    prompts, mean = _prompts(), normalized_mean(_prompts(seed=3))
    fit_params = {"image_mean": mean} if space.needs_image_mean else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CondsimWarning)
        np.testing.assert_array_equal(
            space.fit_transform(prompts, **fit_params), copy.fit(prompts, **fit_params).transform(prompts)
        )
