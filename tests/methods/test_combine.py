"""resolve_combine: the paper's stacking by default, "mean" when weights are given, clear refusals."""

from __future__ import annotations

import pytest

from condsim.errors import InvalidInputError
from condsim.methods import COMBINE_MODES, resolve_combine


def test_default_is_the_papers_stack_and_weights_select_mean() -> None:
    assert COMBINE_MODES[0] == "stack"
    assert resolve_combine(None, has_weights=False) == "stack"
    assert resolve_combine(None, has_weights=True) == "mean"
    assert resolve_combine("mean", has_weights=False) == "mean"
    assert resolve_combine("stack", has_weights=False) == "stack"


def test_weights_with_stack_and_unknown_modes_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="stack") as raised:
        resolve_combine("stack", has_weights=True)
    assert "mean" in (raised.value.hint or "")
    with pytest.raises(InvalidInputError, match="weighted"):
        resolve_combine("weighted", has_weights=False)
