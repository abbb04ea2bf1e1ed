"""The one registry of conditional spaces, and the names of the methods built on them.

A conditional space is fitted once from a condition's prompt embeddings and then maps embeddings
into the space where cosine is the conditional similarity (methods.md §1.2 for CLAY, §2.1 for CRL):

    space = make_space("clay", SpaceOptions(clay_k=50)).fit(prompts, image_mean=µ_db)
    z_images = space.transform(image_embeddings)        # (N, m) unit rows
    z_texts = space.transform_texts(text_embeddings)    # (n, m), comparable with z_images

Every space has the same small interface (`ConditionalSpace`), so the collection, the evaluation
protocols and the command line pick a space by name from `SPACES` instead of branching on it.
`EmbeddedCondition` is the one type for "a condition's embedded prompts" that all of them pass in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from condsim.errors import InvalidInputError, NotFittedError
from condsim.methods._validation import F32, as_matrix64, as_unit_rows
from condsim.methods.baseline import image_similarity
from condsim.methods.clay import Alignment, ClaySpace
from condsim.methods.crl import CrlNormalize, CrlSpace
from condsim.methods.estimator import SpaceEstimator


@runtime_checkable
class ConditionalSpace(Protocol):
    """What every registered space provides, scikit-learn style (state learned by `fit` ends in `_`).

    fit: learn the space from prompt embeddings (n, d); `image_mean` is µ_db, the normalised mean of
        the database images (used by CLAY's alignment, ignored by the others);
        `negative_prompt_embeddings` describe a condition to ignore (CLAY only; others refuse it).
    transform: image embeddings (N, d) -> (N, m) float32 rows of unit norm (or zero, see each space).
    transform_texts: text embeddings (n, d) -> (n, m) float32 rows in the same space.
    similarity: (q, N) conditional cosine of queries and images, cos(transform(q), transform(d)),
        computed at the space's own precision (the score matrix the evaluation protocols rank).
    n_features_in_: d; fingerprint_: a hex digest of everything `transform` uses (a cache key);
    needs_image_mean: whether `fit` reads `image_mean`.
    get_params / fit_transform (and set_params, clone): scikit-learn's conventions, `estimator.py`.
    """

    n_features_in_: int
    fingerprint_: str

    @property
    def needs_image_mean(self) -> bool:
        """Whether `fit` uses `image_mean` (so a caller computes µ_db only when it matters)."""
        ...

    def fit(
        self,
        prompt_embeddings: npt.ArrayLike,
        *,
        image_mean: npt.ArrayLike | None = None,
        negative_prompt_embeddings: npt.ArrayLike | None = None,
    ) -> ConditionalSpace: ...

    def transform(self, image_embeddings: npt.ArrayLike) -> F32: ...

    def transform_texts(self, text_embeddings: npt.ArrayLike) -> F32: ...

    def similarity(self, query_embeddings: npt.ArrayLike, image_embeddings: npt.ArrayLike) -> F32: ...

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def fit_transform(self, X: npt.ArrayLike, y: object = None, **fit_params: Any) -> F32: ...


class PlainSpace(SpaceEstimator):
    """The condition-blind baseline as a space: the embeddings themselves, as unit rows.

    `fit` only records the dimension of the prompts (so that mismatched embeddings fail early);
    cos(transform(q), transform(d)) is the plain cosine cos(v_q, v_d). Rows already of unit norm are
    returned unchanged (see `as_unit_rows`).
    """

    needs_image_mean = False

    def fit(
        self,
        prompt_embeddings: npt.ArrayLike,
        y: object = None,
        *,
        image_mean: npt.ArrayLike | None = None,
        negative_prompt_embeddings: npt.ArrayLike | None = None,
    ) -> PlainSpace:
        """Record d from the prompts (their values do not matter to plain similarity)."""
        if negative_prompt_embeddings is not None:
            raise InvalidInputError(
                "plain similarity has no negative conditions.", hint="Use ClaySpace to ignore a condition."
            )
        prompts = as_matrix64(prompt_embeddings, "prompt_embeddings")
        self.n_features_in_: int = int(prompts.shape[1])
        self.fingerprint_: str = hashlib.sha256(repr(("plain", self.n_features_in_)).encode()).hexdigest()
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(
                "This PlainSpace is not fitted yet.", hint="Call .fit(prompt_embeddings) first."
            )

    def transform(self, image_embeddings: npt.ArrayLike) -> F32:
        """(N, d) float32 unit rows of the image embeddings."""
        self._check_fitted()
        rows = as_unit_rows(
            image_embeddings, "image_embeddings", dim=self.n_features_in_, dim_name="the prompt embeddings"
        )
        return np.asarray(rows, dtype=np.float32)

    def transform_texts(self, text_embeddings: npt.ArrayLike) -> F32:
        """(n, d) float32 unit rows of the text embeddings (texts and images share the raw space)."""
        return self.transform(text_embeddings)

    def similarity(self, query_embeddings: npt.ArrayLike, image_embeddings: npt.ArrayLike) -> F32:
        """(q, N) plain cosine cos(v_q, v_d) (`condsim.methods.image_similarity`)."""
        self._check_fitted()
        as_matrix64(
            query_embeddings, "query_embeddings", dim=self.n_features_in_, dim_name="the prompt embeddings"
        )
        return image_similarity(query_embeddings, image_embeddings)


@dataclass(frozen=True)
class SpaceOptions:
    """The hyper-parameters of every registered space in one place (each factory reads its own).

    clay_k: CLAY's rank (paper: 50); alignment and manifold: CLAY's H and the Euclidean ablation;
    crl_normalize: CRL's post-processing ("row" for retrieval and k-means, "fewshot" for probes).
    """

    clay_k: int = 50
    alignment: Alignment = "householder"
    manifold: bool = True
    crl_normalize: CrlNormalize = "row"


SpaceFactory = Callable[[SpaceOptions], ConditionalSpace]

#: name -> factory of every conditional space, in report order (plain, CRL, CLAY)
SPACES: Mapping[str, SpaceFactory] = {
    "plain": lambda options: PlainSpace(),
    "crl": lambda options: CrlSpace(normalize=options.crl_normalize),
    "clay": lambda options: ClaySpace(
        k=options.clay_k, alignment=options.alignment, manifold=options.manifold
    ),
}

#: the methods that give features (one space each): clustering, few-shot, ranking
FEATURE_METHODS: tuple[str, ...] = tuple(SPACES)
#: the feature methods that need a condition (every space but plain)
CONDITIONAL_METHODS: tuple[str, ...] = tuple(name for name in SPACES if name != "plain")
#: the methods a query can use: CLAY (default), CRL, plain, and CLAY re-ranked (`methods.rerank`)
QUERY_METHODS: tuple[str, ...] = ("clay", "crl", "plain", "rerank")


def check_method(method: str, allowed: tuple[str, ...] = QUERY_METHODS) -> str:
    """`method` if it is one of `allowed`, else an `InvalidInputError` that lists them."""
    if method not in allowed:
        raise InvalidInputError(f"unknown method {method!r}", hint=f"use one of {', '.join(allowed)}")
    return method


def make_space(name: str, options: SpaceOptions | None = None) -> ConditionalSpace:
    """A new, unfitted space registered as `name`, built with `options` (default `SpaceOptions()`)."""
    factory = SPACES.get(name)
    if factory is None:
        raise InvalidInputError(f"unknown space {name!r}", hint=f"use one of {', '.join(SPACES)}")
    return factory(options if options is not None else SpaceOptions())


@dataclass(frozen=True)
class EmbeddedCondition:
    """A condition given by its prompt embeddings: the input every space is fitted from.

    `clay` rows are CLAY's wording ("a photo of a red object"), `crl` rows CRL's descriptive texts
    (default: the `clay` rows). Embed both with the model that embedded the images.
    """

    name: str
    clay: np.ndarray
    crl: np.ndarray | None = None

    def prompts_for(self, space: str) -> np.ndarray:
        """The prompt embeddings the space `space` is fitted from: CRL's for "crl", CLAY's otherwise."""
        if space == "crl" and self.crl is not None:
            return self.crl
        return self.clay
