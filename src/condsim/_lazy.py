"""Package attributes imported on first use (PEP 562), for the packages whose import must stay light
(`condsim`, `condsim.collection`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(
    package: str, sources: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of `package`: a name of `sources` (name ->
    the module that defines it) is imported from its module the first time it is asked for and kept in
    the package's `namespace` (its ``globals()``), so later lookups are plain attribute reads."""

    def __getattr__(name: str) -> object:
        module = sources.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *sources})

    return __getattr__, __dir__
