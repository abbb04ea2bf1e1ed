"""scikit-learn's estimator conventions for the conditional spaces, without importing scikit-learn.

`SpaceEstimator` gives `ClaySpace`, `CrlSpace` and `PlainSpace` what `sklearn.base.clone`, grid
search and `Pipeline` rely on (scikit-learn's developer guide, "Rolling your own estimator"):

* `get_params` / `set_params`: the hyper-parameters are exactly the `__init__` arguments, stored
  unchanged under the same names (validation happens in `fit`), so `clone(space)` is an unfitted copy;
* `fit(X, y=None, **fit_params)` returns self; `fit_transform(X, y=None, **fit_params)` is
  `fit(X, **fit_params).transform(X)`, the call a `Pipeline` makes on its transformer steps;
* `__sklearn_tags__`: a transformer that needs no target; scikit-learn is imported only when
  scikit-learn itself asks for the tags, so `condsim.methods` stays numpy/scipy only.

What `X` means: a space is fitted from a condition's *prompt* embeddings (n, d) and transforms
*image* embeddings (N, d) of the same model. In a `Pipeline` whose space step is fitted on prompts,
`fit_transform` maps the prompts themselves; to map images, fit the space first and pass the
fitted space to the next estimator (`KMeans().fit(space.transform(images))`), or give `image_mean`
through the pipeline's fit parameters (`pipeline.fit(prompts, clay__image_mean=µ_db)`).
"""

from __future__ import annotations

import inspect
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from condsim.errors import InvalidInputError
from condsim.methods._validation import F32


class SpaceEstimator:
    """Mixin: `get_params`, `set_params`, `fit_transform`, scikit-learn tags and a parameter repr.

    A subclass declares every hyper-parameter as an `__init__` argument stored as an attribute of the
    same name, and implements `fit(X, y=None, **fit_params)` and `transform(X)`.
    """

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The `__init__` argument names, sorted (scikit-learn's `BaseEstimator._get_param_names`)."""
        signature = inspect.signature(cls.__init__)
        return sorted(
            name
            for name, parameter in signature.parameters.items()
            if name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyper-parameters as given to `__init__` (`deep` is accepted; no parameter is an
        estimator, so there is nothing nested to report)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set hyper-parameters by name (validated by the next `fit`); an unknown name is refused."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise InvalidInputError(
                    f"{type(self).__name__} has no parameter {name!r}",
                    hint=f"its parameters are {', '.join(valid) or 'none'}",
                )
            setattr(self, name, value)
        return self

    def fit_transform(self, X: npt.ArrayLike, y: object = None, **fit_params: Any) -> F32:
        """`fit(X, **fit_params).transform(X)`: the rows of X in the space fitted from them (`y` is
        ignored, as by every unsupervised scikit-learn transformer)."""
        space: Any = self  # each space declares its own fit keywords (image_mean, ...)
        return np.asarray(space.fit(X, **fit_params).transform(X), dtype=np.float32)

    def __sklearn_tags__(self) -> Any:
        """A transformer without a target whose input is a dense float array (read by scikit-learn)."""
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=["float32"]),
            input_tags=InputTags(two_d_array=True, allow_nan=False),
        )

    def __repr__(self) -> str:
        """`ClaySpace(k=10, alignment='none')`: the class and the parameters that differ from their
        defaults, as scikit-learn prints estimators."""
        signature = inspect.signature(type(self).__init__)
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if repr(value) != repr(signature.parameters[name].default)
        ]
        return f"{type(self).__name__}({', '.join(changed)})"
