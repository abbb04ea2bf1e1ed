"""What the command line turns its arguments into: an encoder, an opened collection, resolved
conditions, labelled images read from a CSV (per-condition weights and the rules between --by, --not
and --method are the library's, `condsim.collection.query_inputs`, worded by `cli_spelling`).

These are the only places where a typed string (a store path, `COND=FILE`, a labels file)
becomes a library object, so every command reads its arguments the same way. A mistake is a
`CondsimError` that names the option and says how to write it.
"""

from __future__ import annotations

import csv
import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from condsim._text import printable
from condsim.errors import EmptyConditionError, ImageLoadError, InvalidInputError, ModelLoadError, StoreError

if TYPE_CHECKING:
    from condsim.collection import Collection
    from condsim.collection.query_inputs import Spelling
    from condsim.collection.tasks import LabelledImage
    from condsim.conditions import Condition
    from condsim.encoders import Encoder


#: the environment variable naming the store when --store is left out
STORE_VARIABLE = "CONDSIM_STORE"
#: the environment variable naming the model when --model is left out
MODEL_VARIABLE = "CONDSIM_MODEL"
#: a file (naming the store on its first line) or a store folder, looked for from the working folder up
STORE_MARKER = ".condsim"


def locate_store(
    given: str | None, environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Path:
    """The store to use: `given` (--store) if any, else $CONDSIM_STORE, else the nearest `.condsim`
    marker from `cwd` upwards: a folder of that name is the store; a file names it on its first line
    that is neither blank nor a `#` comment (relative to the file's folder). Nothing found is a
    `StoreError` saying the three ways to name a store."""
    if given:
        return Path(given).expanduser()
    env = os.environ if environ is None else environ
    configured = env.get(STORE_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser()
    here = (cwd or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        marker = folder / STORE_MARKER
        if marker.is_dir():
            return marker
        if marker.is_file():
            return _store_named_by(marker)
    raise StoreError(
        f"no --store given, and neither {STORE_VARIABLE} nor a {STORE_MARKER} file names one",
        hint=f"pass --store DIR, set {STORE_VARIABLE}=DIR, or write the store's path into a "
        f"{STORE_MARKER} file in this folder or a parent",
    )


def _store_named_by(marker: Path) -> Path:
    hint = f"write the store's path on the first line of {marker}"
    try:
        lines = marker.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise StoreError(f"cannot read the store marker {marker}: {reason}", hint=hint) from error
    named = next((line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")), "")
    if not named:
        raise StoreError(f"the store marker {marker} names no store", hint=hint)
    store = Path(named).expanduser()
    return store if store.is_absolute() else marker.parent / store


def load_encoder(
    model: str | None,
    store_model_id: str | None = None,
    device: str = "auto",
    model_source: str | None = None,
) -> Encoder:
    """The encoder named by --model, else the one a store was built with, else the built-in model,
    loaded now on `device` (--device) behind a status line on stderr. `model_source` (the folder a
    store records it was indexed with) only words the error: it is never loaded from."""
    from condsim._progress import status
    from condsim.encoders import load_encoder

    name = model if model is not None else store_model_id
    with status(f"Loading model {name or 'builtin'} on {device}"):
        if model is not None or store_model_id is None:
            return load_encoder(model, device=device)
        try:
            return load_encoder(store_model_id, device=device)
        except ModelLoadError as error:
            if error.hint and "--device" in error.hint:  # the device, not the model, is the problem
                raise
            if model_source is not None:
                given = shlex.quote(printable(model_source))
                raise ModelLoadError(
                    f"this store was indexed with --model {given}: pass --model {given}",
                    hint=f"or set {MODEL_VARIABLE}={given} once for this shell",
                ) from error
            raise ModelLoadError(
                f"the store was built with model {store_model_id!r}, which cannot be loaded by that name "
                f"({error})",
                hint="pass the model the store was indexed with: --model NAME_OR_PATH",
            ) from error


def store_encoder(
    model: str | None, model_id: str, dim: int, device: str = "auto", model_source: str | None = None
) -> Encoder:
    """The encoder for a store of `model_id` (`dim`-d). Unless --model names another model, it is a
    `LazyEncoder`: loaded only if something must be embedded (a query image that is not indexed, a
    condition whose prompt embeddings are not cached yet, a new file to index), so a query by an
    indexed image never imports torch. A --model other than the store's is loaded now, so that a
    mismatch is reported at once."""
    from condsim.encoders.lazy import LazyEncoder

    if model is not None and model.strip() != model_id:
        return load_encoder(model, None, device)
    return LazyEncoder(
        lambda: load_encoder(model, model_id, device, model_source), model_id=model_id, dim=dim
    )


def open_collection(
    store: str, model: str | None, image: str | None = None, device: str = "auto"
) -> tuple[Collection, Path | None]:
    """The store opened for search with its encoder (a --model must match the store's model; the model
    is loaded only when something must be embedded, see `store_encoder`), and the query image's file
    when `image` is given (checked first: a bad path fails fast).
    """
    from condsim.collection import Collection, Store
    from condsim.collection.backends import is_milvus
    from condsim.collection.backends.milvus import MilvusBackend
    from condsim.collection.index_plan import is_storable_name

    opened: Store | MilvusBackend = (
        MilvusBackend.open(store) if is_milvus(store) else Store.open(Path(store).expanduser())
    )
    try:
        query_path = None
        if image is not None:
            query_path = Path(image).expanduser()
            if not query_path.is_file():
                stored = opened.find_path(image) if is_storable_name(image) else None
                if stored is None:
                    raise ImageLoadError(
                        f"no image at {image}", hint="give the path of an image file (or of an indexed image)"
                    )
                query_path = Path(stored.abspath)
        source = opened.model_source if isinstance(opened, Store) else None
        encoder = store_encoder(model, opened.model_id, opened.dim, device, source)
        return Collection(opened, encoder), query_path
    except BaseException:
        opened.close()
        raise


def _prompt_files(names: Sequence[str], prompts: Sequence[str]) -> dict[str, str]:
    """Which --prompts file belongs to which condition: FILE (one condition) or COND=FILE."""
    from condsim.conditions import normalize_name

    if prompts and not names:
        raise InvalidInputError(
            "--prompts gives values for a condition, but no condition was named",
            hint='add --by NAME, e.g. --by "fabric" --prompts fabrics.txt',
        )
    files: dict[str, str] = {}
    by_key = {normalize_name(name): name for name in names}
    for value in prompts:
        name, separator, file = value.partition("=")
        if separator and not Path(value).exists() and normalize_name(name) in by_key:
            files[by_key[normalize_name(name)]] = file
        elif len(names) == 1:
            files[names[0]] = value
        else:
            raise InvalidInputError(
                f"--prompts {value!r}: with several conditions, say which one the file is for",
                hint=f"write --prompts NAME=FILE with NAME one of {', '.join(names)}",
            )
    return files


def resolve_conditions(
    names: Sequence[str], prompts: Sequence[str] | None, llm: bool
) -> dict[str, Condition]:
    """Typed name -> Condition: its --prompts file if it has one, else with --llm values generated by
    the LLM (cached; a built-in name keeps its prompt templates), else the built-in vocabulary (an
    unknown name fails, listing the built-ins)."""
    from condsim.conditions import resolve_condition

    if llm and not names:
        raise InvalidInputError(
            "--llm generates values for a condition, but no condition was named",
            hint='add --by NAME, e.g. --by "fabric" --llm',
        )
    files = _prompt_files(names, list(prompts or []))
    resolved: dict[str, Condition] = {}
    for name in names:
        if not name.strip():
            raise EmptyConditionError(
                "a condition name is empty", hint="run `condsim conditions` to list them"
            )
        file = files.get(name)
        resolved[name] = resolve_condition(name, prompts_file=file, use_llm=llm and file is None)
    return resolved


def cli_spelling() -> Spelling:
    """How the command line names the condition inputs in the library's messages (--by, --weight,
    --prompts for a list of values, `--method clay`)."""
    from condsim.collection.query_inputs import Spelling

    return Spelling(
        names={
            "by": "--by",
            "not": "--not",
            "weight": "--weight",
            "values": "--prompts",
            "method": "--method",
        },
        setting="{name} {value}",
    )


def read_labels(path: Path) -> list[LabelledImage]:
    """The labelled images of a path,label CSV (a header row "path,label" is skipped), each with its
    file and line as origin so that a library error about one of them points at its line."""
    from condsim.collection.tasks import LabelledImage

    hint = (
        "give a CSV with one `path,label` row per labelled image "
        "(paths absolute or relative to the indexed folder)"
    )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise InvalidInputError(f"cannot read the labels file {path}: {reason}", hint=hint) from error
    rows: list[LabelledImage] = []
    for number, record in enumerate(csv.reader(text.splitlines()), start=1):
        if not record or not "".join(record).strip() or record[0].lstrip().startswith("#"):
            continue
        if len(record) < 2 or not record[0].strip() or not record[1].strip():
            raise InvalidInputError(
                f"{path} line {number}: expected `path,label`, got {','.join(record)!r}", hint=hint
            )
        image, label = record[0].strip(), record[1].strip()
        if not rows and number == 1 and (image.casefold(), label.casefold()) == ("path", "label"):
            continue
        rows.append(LabelledImage(image, label, origin=f"{path} line {number}"))
    if not rows:
        raise InvalidInputError(f"the labels file {path} has no `path,label` rows", hint=hint)
    return rows
