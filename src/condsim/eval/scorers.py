"""The retrieval methods compared by `condsim bench`: each maps (queries, database, condition texts)
to a (q, N) score matrix that the protocols rank (docs/methods.md names every equation used here).

plain, CRL and the CLAY variants go through the registry `condsim.methods.SPACES`. The text baselines
need a text per query for image-to-image retrieval: the query is described by its best-matching CLAY
prompt of the condition, t*(q) = argmax_j cos(v_q, t_j) (no label is used), then

* ``text``: database ranked by cos(t*(q), v_d) (the query image itself is not used further);
* ``image+text``: GeneCIS's composed query normalize(v̂_q + t̂*(q)), cosine with the database;
* ``crl-fusion``: CRL's GeneCIS score S = Ŝ_text + 10·Ŝ_crl with S_text = cos(t*(q), v_d).

``rerank`` re-ranks CLAY's top-K by neighbourhood consistency in the CLAY space (the GA-CLIP
reconstruction) and keeps CLAY's order below K; ``steer`` steers the plain query towards its condition
value, q' = normalize(q + β·δ) with δ = normalize(mean of t*(q)'s nearest prompts − mean of all the
condition's prompts), then ranks by plain cosine.

``zero-shot-match`` is the trivial reference every conditional method must beat: each image gets the
zero-shot label argmax_c cos(v, e(prompt of class c)) from the condition's class names, and the
database is ranked by agreement of its labels with the query's, ties by plain cosine. It reads the
class-name prompts of `LabelledCondition`; it is the only method that knows the class names.

The hyper-parameters (CLAY's k, the re-rank depth / neighbours / weight, steering β) are arguments
of the factories, so the sensitivity sweeps (`condsim.eval.sensitivity`) use the very same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from condsim.errors import InvalidInputError
from condsim.methods import (
    ClaySpace,
    ConditionalSpace,
    EmbeddedCondition,
    SpaceOptions,
    genecis_fusion,
    image_similarity,
    image_text_similarity,
    make_space,
    neighbourhood_rerank,
    normalized_mean,
    steer_query,
    text_similarity,
    top_k,
    unit_rows,
)

#: CLAY's subspace rank (CLAY paper, all experiments)
CLAY_K = 50
#: re-rank depth, neighbourhood size and weight of the neighbourhood score (GA-CLIP reconstruction)
RERANK_DEPTH = 50
RERANK_NEIGHBOURS = 10
RERANK_WEIGHT = 0.5
#: steering step and the number of nearest prompts forming the positive set
STEER_BETA = 0.5
STEER_POSITIVES = 3
#: the zero-shot-match score of a label agreement; cosines lie in [-1, 1], so any agreement outranks
#: any disagreement and plain cosine orders the ties
_AGREEMENT = 3.0


@dataclass(frozen=True)
class LabelledCondition(EmbeddedCondition):
    """A condition's prompts plus ``classes``: one prompt embedding per class of the dataset's
    condition, in the order of `EmbeddedDataset.classes` (what the zero-shot reference needs)."""

    classes: np.ndarray | None = None

    def class_embeddings(self) -> np.ndarray:
        """The (C, d) class-name prompt embeddings; an error if the condition was built without them."""
        if self.classes is None:
            raise InvalidInputError(
                f"condition {self.name!r} has no class prompts",
                hint="build it with LabelledCondition(..., classes=encoder.encode_texts(class prompts))",
            )
        return self.classes


ScoreFunction = Callable[[np.ndarray, np.ndarray, EmbeddedCondition], np.ndarray]


def best_prompts(queries: np.ndarray, prompts: np.ndarray) -> np.ndarray:
    """t*(q): each query's best-matching prompt (the text baselines' description of the query)."""
    return np.asarray(prompts[np.argmax(queries @ prompts.T, axis=1)])


def fitted_space(
    method: str, texts: EmbeddedCondition, images: np.ndarray, options: SpaceOptions
) -> ConditionalSpace:
    """The registered space `method` fitted on the condition's prompts (µ_db from `images`)."""
    space = make_space(method, options)
    needs_mean = space.needs_image_mean
    return space.fit(texts.prompts_for(method), image_mean=normalized_mean(images) if needs_mean else None)


#: the registered spaces as the papers run them: CLAY with rank CLAY_K, CRL row-normalised
SPACE_OPTIONS = SpaceOptions(clay_k=CLAY_K)


def space_scores(method: str, options: SpaceOptions = SPACE_OPTIONS) -> ScoreFunction:
    """Retrieval by the cosine of a registered space (plain, CRL, CLAY and its ablations)."""

    def score(queries: np.ndarray, database: np.ndarray, texts: EmbeddedCondition) -> np.ndarray:
        return np.asarray(fitted_space(method, texts, database, options).similarity(queries, database))

    return score


def _text(queries: np.ndarray, database: np.ndarray, texts: EmbeddedCondition) -> np.ndarray:
    return text_similarity(best_prompts(queries, texts.clay), database)


def _image_text(queries: np.ndarray, database: np.ndarray, texts: EmbeddedCondition) -> np.ndarray:
    return image_text_similarity(queries, best_prompts(queries, texts.clay), database)


def _crl_fusion(queries: np.ndarray, database: np.ndarray, texts: EmbeddedCondition) -> np.ndarray:
    return genecis_fusion(queries, best_prompts(queries, texts.clay), database, texts.prompts_for("crl"))


def neighbourhood_rerank_scores(
    query_z: np.ndarray, database_z: np.ndarray, depth: int, n_neighbors: int, weight: float
) -> np.ndarray:
    """Full (q, N) scores: the top-`depth` re-ranked by `condsim.methods.neighbourhood_rerank`, then
    the first-stage order below them (cosines lie in [-1, 1], so shifting them by −3 puts every
    non-re-ranked item after the re-ranked ones)."""
    scores = query_z @ database_z.T
    first_scores, first_ids = top_k(scores, depth)
    _, reranked_ids = neighbourhood_rerank(
        query_z, database_z, first_scores, first_ids, n_neighbors=n_neighbors, weight=weight
    )
    final = scores - 3.0
    rows = np.arange(query_z.shape[0])[:, None]
    final[rows, reranked_ids] = np.arange(depth, 0, -1, dtype=np.float32)[None, :]
    return np.asarray(final)


def rerank_scores(
    *,
    k: int = CLAY_K,
    depth: int = RERANK_DEPTH,
    neighbours: int = RERANK_NEIGHBOURS,
    weight: float = RERANK_WEIGHT,
) -> ScoreFunction:
    """CLAY (rank `k`) top-`depth` re-ranked with `neighbours` and `weight` (`neighbourhood_rerank`)."""

    def score(queries: np.ndarray, database: np.ndarray, texts: EmbeddedCondition) -> np.ndarray:
        space = ClaySpace(k=k).fit(texts.clay, image_mean=normalized_mean(database))
        return neighbourhood_rerank_scores(
            space.transform(queries),
            space.transform(database),
            min(depth, database.shape[0]),
            min(neighbours, database.shape[0] - 1),
            weight,
        )

    return score


def steer_scores(*, beta: float = STEER_BETA, positives: int = STEER_POSITIVES) -> ScoreFunction:
    """Plain retrieval with each query steered by β towards its `positives` nearest prompts."""

    def score(queries: np.ndarray, database: np.ndarray, texts: EmbeddedCondition) -> np.ndarray:
        prompts = texts.clay
        nearest = np.argsort(-(queries @ prompts.T), axis=1, kind="stable")[:, :positives]
        steered = np.vstack([
            steer_query(query[None, :], prompts[chosen], prompts, beta=beta)
            for query, chosen in zip(queries, nearest, strict=True)
        ])  # fmt: skip
        return image_similarity(steered, database)

    return score


def clay_scores(k: int = CLAY_K) -> ScoreFunction:
    """CLAY (Householder alignment, on the sphere) with rank `k`."""
    return space_scores("clay", replace(SPACE_OPTIONS, clay_k=k))


def zero_shot_labels(image_embeddings: np.ndarray, class_embeddings: np.ndarray) -> np.ndarray:
    """(n,) zero-shot class index of each image: argmax_c cos(v, e(class prompt c)) (CLIP's classifier)."""
    images = np.asarray(image_embeddings, dtype=np.float64)
    classes = unit_rows(np.asarray(class_embeddings, dtype=np.float64), "the class prompt embeddings")
    return np.asarray(np.argmax(images @ classes.T, axis=1), dtype=np.int64)


def _zero_shot_match(queries: np.ndarray, database: np.ndarray, texts: EmbeddedCondition) -> np.ndarray:
    if not isinstance(texts, LabelledCondition):
        raise InvalidInputError(
            f"zero-shot-match needs the class prompts of {texts.name!r}", hint="pass a LabelledCondition"
        )
    classes = texts.class_embeddings()
    agree = zero_shot_labels(queries, classes)[:, None] == zero_shot_labels(database, classes)[None, :]
    return np.asarray(image_similarity(queries, database) + _AGREEMENT * agree, dtype=np.float32)


def zero_shot_match_multi(
    queries: np.ndarray, database: np.ndarray, texts: list[LabelledCondition]
) -> np.ndarray:
    """zero-shot-match for several conditions: ranked by the number of agreeing zero-shot labels,
    ties by plain cosine."""
    agreements = np.zeros((queries.shape[0], database.shape[0]), dtype=np.float32)
    for condition in texts:
        classes = condition.class_embeddings()
        agreements += (
            zero_shot_labels(queries, classes)[:, None] == zero_shot_labels(database, classes)[None, :]
        )
    return np.asarray(image_similarity(queries, database) + _AGREEMENT * agreements, dtype=np.float32)


#: retrieval methods, in report order (results.json keys); ``zero-shot-match`` is the reference
METHODS: dict[str, ScoreFunction] = {
    "plain": space_scores("plain"),
    "zero-shot-match": _zero_shot_match,
    "text": _text,
    "image+text": _image_text,
    "crl": space_scores("crl"),
    "crl-fusion": _crl_fusion,
    "clay": clay_scores(),
    "clay-rotation": space_scores("clay", replace(SPACE_OPTIONS, alignment="rotation")),
    "clay-euclidean": space_scores("clay", replace(SPACE_OPTIONS, manifold=False)),
    "rerank": rerank_scores(),
    "steer": steer_scores(),
}
#: the methods whose scores depend on the condition's prompt wording (the prompt-variant tables)
TEXT_METHODS: tuple[str, ...] = ("text", "crl", "clay", "steer")
