"""Per-condition state of a collection: a condition's embedded prompts, its fitted space, and the whole
database transformed into that space, each computed once and cached.

A condition name or `Condition` is resolved to an `EmbeddedCondition` (prompt embeddings cached on
disk per model and prompt list); a space from the registry (`condsim.methods.SPACES`) is fitted on
it and kept in memory for the collection's current version; the transformed database (z for CLAY,
R for CRL) goes through the `ArrayCache`, keyed by the space's fingerprint, so the first query of a
condition pays one transform and later ones one (N × m) scan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

from condsim.collection.cache import ArrayCache, cache_key
from condsim.conditions.condition import Condition
from condsim.errors import DimensionMismatchError, InvalidInputError
from condsim.methods.spaces import ConditionalSpace, EmbeddedCondition, SpaceOptions, make_space

if TYPE_CHECKING:
    from condsim.encoders.base import Encoder

ConditionLike: TypeAlias = "str | Condition | EmbeddedCondition"

#: rows transformed per block, so that transforming a large database keeps memory bounded
TRANSFORM_CHUNK = 8192


class SpaceCache:
    """Fitted spaces and transformed databases of one collection version (`clear` on a new version).

    `encoder` is called only when a condition's prompts must be embedded; `model_id` and `dim` are the
    store's, so that embedded conditions from another model are refused early.
    """

    def __init__(
        self,
        cache: ArrayCache,
        options: SpaceOptions,
        *,
        model_id: str,
        dim: int,
        encoder: Callable[[], Encoder],
    ) -> None:
        self.cache = cache
        self.options = options
        self.model_id = model_id
        self.dim = dim
        self._encoder = encoder
        self._spaces: dict[str, ConditionalSpace] = {}

    def clear(self) -> None:
        """Forget the fitted spaces (their image mean belongs to the previous collection version)."""
        self._spaces.clear()

    # ------------------------------------------------------------------ conditions
    def _prompt_embeddings(self, prompts: Sequence[str]) -> np.ndarray:
        key = cache_key(self.model_id, list(prompts))
        return np.asarray(
            self.cache.get_or_compute(
                "prompts", key, lambda: self._encoder().encode_texts(list(prompts)).astype(np.float32)
            ),
            dtype=np.float32,
        )

    def resolve(self, condition: ConditionLike) -> EmbeddedCondition:
        """The condition's CLAY and CRL prompt embeddings, float32 and checked against the store."""
        if isinstance(condition, EmbeddedCondition):
            clay = np.asarray(condition.clay, dtype=np.float32)
            crl = np.asarray(condition.prompts_for("crl"), dtype=np.float32)
            for what, matrix in (("clay", clay), ("crl", crl)):
                if matrix.ndim != 2 or matrix.shape[1] != self.dim:
                    raise DimensionMismatchError(
                        f"condition {condition.name!r}: {what} prompt embeddings have shape {matrix.shape}, "
                        f"the store holds {self.dim}-d embeddings",
                        hint=f"embed the prompts with the store's model {self.model_id!r}",
                    )
            return EmbeddedCondition(condition.name, clay, crl)
        if isinstance(condition, str):
            from condsim.conditions import resolve_condition

            condition = resolve_condition(condition)
        if not isinstance(condition, Condition):
            raise InvalidInputError(
                "a condition must be a name, a Condition or an EmbeddedCondition, "
                f"got {type(condition).__name__}",
                hint="e.g. by=['color'] (see `condsim conditions` for the built-in names)",
            )
        return EmbeddedCondition(
            condition.name,
            self._prompt_embeddings(condition.clay_prompts),
            self._prompt_embeddings(condition.crl_prompts),
        )

    # ------------------------------------------------------------------ spaces
    def fitted(
        self,
        method: str,
        conditions: Sequence[EmbeddedCondition],
        image_mean: Callable[[], np.ndarray],
        *,
        negatives: Sequence[EmbeddedCondition] = (),
        options: SpaceOptions | None = None,
    ) -> ConditionalSpace:
        """The space `method` fitted on the row-stacked prompts of `conditions` (one condition, or the
        paper's stacked multi-condition space), without the `negatives`' directions; cached."""
        options = options if options is not None else self.options
        prompts = [condition.prompts_for(method) for condition in conditions]
        negative = [condition.prompts_for(method) for condition in negatives]
        key = cache_key(method, repr(options), [_digest(p) for p in prompts], [_digest(n) for n in negative])
        space = self._spaces.get(key)
        if space is None:
            space = make_space(method, options)
            space.fit(
                prompts[0] if len(prompts) == 1 else np.vstack(prompts),
                image_mean=image_mean() if space.needs_image_mean else None,
                negative_prompt_embeddings=np.vstack(negative) if negative else None,
            )
            self._spaces[key] = space
        return space

    def transformed(self, method: str, space: ConditionalSpace, database: np.ndarray, tag: str) -> np.ndarray:
        """The whole database through `space` (z for CLAY, row-normalised R for CRL), cached under the
        space's fingerprint and the collection version `tag`. Only for spaces that transform row by row
        (not CRL's "fewshot" standardisation, whose mean runs over the whole array)."""

        def compute() -> np.ndarray:
            output: np.ndarray | None = None
            for start in range(0, len(database), TRANSFORM_CHUNK):
                block = space.transform(database[start : start + TRANSFORM_CHUNK])
                if output is None:
                    output = np.empty((len(database), block.shape[1]), dtype=np.float32)
                output[start : start + len(block)] = block
            if output is None:
                raise InvalidInputError("the collection holds no images", hint="index a folder first")
            return output

        return self.cache.get_or_compute("z", vector_set_name(method, space), compute, tag=tag)


def vector_set_name(method: str, space: ConditionalSpace) -> str:
    """The key of a fitted space's transformed database: its cache entry, and the name of the vector set
    a store backend materialises for it (`backends.protocol`)."""
    return cache_key(method, space.fingerprint_)


def _digest(matrix: np.ndarray) -> str:
    """Content key of a prompt-embedding matrix."""
    contiguous = np.ascontiguousarray(matrix, dtype=np.float32)
    return cache_key(list(contiguous.shape), hashlib.sha256(contiguous.tobytes()).hexdigest())
