"""The one exception hierarchy of condsim.

Every error a user can cause is a `CondsimError` subclass whose message says what went wrong and
what to do about it. The command line prints `str(error)` and `error.hint` as one line each, with
exit code 2 and no traceback.
"""

from __future__ import annotations


class CondsimError(Exception):
    """Base class of every error condsim raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class InvalidInputError(CondsimError, ValueError):
    """An array or argument has the wrong shape, dtype, range or contains NaN / zero vectors."""


class DimensionMismatchError(InvalidInputError):
    """Text and image embeddings (or query and database) do not share one dimension."""


class EmptyConditionError(InvalidInputError):
    """A condition has no prompts (or too few to be usable)."""


class UnknownConditionError(CondsimError, KeyError):
    """A condition name is neither built in nor given with --prompts / --llm."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class PromptGenerationError(CondsimError):
    """The LLM endpoint failed, timed out, or returned unusable prompts."""


class PromptFileError(InvalidInputError):
    """A --prompts file is missing, unreadable or not in one of the documented formats."""


class ImageLoadError(CondsimError):
    """An image could not be read (missing, unreadable, not an image, too large)."""


class SheetWriteError(CondsimError):
    """A contact sheet could not be written (a folder, a read-only place, a full disk)."""


class ModelLoadError(CondsimError):
    """An encoder could not be found or loaded."""


class StoreError(CondsimError):
    """A collection store is missing, corrupt, or does not match the request."""


class StoreVersionError(StoreError):
    """The store was written by a newer condsim format version."""


class StoreCorruptError(StoreError):
    """The store's files are damaged or inconsistent (the message names the repair)."""


class StoreModelMismatchError(StoreError):
    """The store was built with another encoder than the one requested."""


class NotFittedError(CondsimError, AttributeError):
    """A condition space (ClaySpace, CrlSpace) was used before `fit` was called."""


class CondsimWarning(UserWarning):
    """A recoverable problem condsim corrected itself (e.g. k clipped to the numerical rank)."""


class DatasetLayoutError(ImageLoadError):
    """A dataset folder, annotation file or CSV does not have the expected layout."""
