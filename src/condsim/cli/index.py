"""`condsim index`: a folder of images -> a store (incremental, resumable)."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from condsim.cli import options
from condsim.cli.app import app
from condsim.cli.inputs import load_encoder, store_encoder
from condsim.cli.render import print_index_report
from condsim.errors import CondsimWarning, StoreCorruptError, StoreError


@app.command()
def index(
    folder: str = typer.Argument(..., help="folder of images (searched recursively)"),
    store: options.NewStorePath = options.STORE_NOT_GIVEN,
    model: options.Model = None,
    batch_size: options.BatchSize = 32,
    dtype: str = typer.Option(
        "float32",
        "--dtype",
        help="stored embedding type of a new store: float32 or float16",
        callback=options.one_of("--dtype", lambda: ("float32", "float16")),
    ),
    replace: bool = typer.Option(
        False, "--replace", help="let a store that mirrors another folder mirror this one instead"
    ),
    prune: bool = typer.Option(
        False,
        "--prune",
        help="forget every stored image even when the folder now holds none (otherwise refused)",
    ),
    device: options.Device = "auto",
    ray: bool = typer.Option(
        False, "--ray", help="embed on a local Ray instance (pip install 'condsim[ray]')"
    ),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        metavar="ADDRESS",
        help="embed on the Ray cluster at ADDRESS (auto, ray://HOST:10001); implies --ray",
    ),
) -> None:
    """Index a folder into a store (a folder, milvus-lite:FILE or milvus://HOST:PORT, optionally /DB):
    incremental (only new or changed files are embedded), resumable. The model is loaded only when a
    file is new or changed."""
    from condsim.collection import Store, index_folder
    from condsim.collection.backends import is_milvus
    from condsim.collection.ray_index import RayOptions
    from condsim.collection.store import DATABASE_FILE

    root = Path(folder).expanduser()
    if not root.is_dir():
        raise StoreError(
            f"{root} is not a folder; nothing was changed",
            hint="pass the folder of images to index (is its drive mounted?)",
        )
    store_path: str | Path = store if is_milvus(store) else Path(store).expanduser()
    existing_model: tuple[str, int] | None = None
    existing_source: str | None = None
    if isinstance(store_path, str):
        existing_model = _milvus_store_model(store_path)
    elif (store_path / DATABASE_FILE).is_file():
        try:
            with Store.open(store_path) as existing:
                existing_model = (existing.model_id, existing.dim)
                existing_source = existing.model_source
        except StoreCorruptError:
            if not replace:
                raise
            # --replace rebuilds a damaged store (index_folder), with --model or the default model
    if existing_model is not None:
        # an existing store names its model: it is loaded only if a file is new or changed
        encoder = store_encoder(model, *existing_model, device, existing_source)
    else:
        encoder = load_encoder(model, None, device)
    on_ray = None
    if ray or ray_address:  # each actor loads the model by name
        on_ray = RayOptions(address=ray_address, encoder=model or encoder.model_id, device=device)
    report = index_folder(
        root,
        store_path,
        encoder,
        batch_size=batch_size,
        dtype=dtype,
        replace=replace,
        prune=prune,
        ray=on_ray,
    )
    if model is not None and not isinstance(store_path, str) and Path(model).expanduser().is_dir():
        # so that a later query without --model can say which folder to pass (never loaded from)
        with Store.open(store_path, verify=False) as indexed:
            indexed.set_model_source(str(Path(model).expanduser().resolve()))
    print_index_report(report)
    if report.indexed:
        _warn_if_unlike_training_data(store_path, report.model_id)
    if report.nothing_indexed and not prune:
        raise StoreError(
            f"no image could be indexed under {report.root}",
            hint="the folder must hold readable images (png, jpg, webp, ...); see the list above",
        )


def _milvus_store_model(address: str) -> tuple[str, int] | None:
    """(model id, dimension) of the condsim store at a Milvus address, or None when there is none yet
    (an unreachable server raises)."""
    from condsim.collection.backends.milvus import MilvusBackend

    found = MilvusBackend.open_if_exists(address)
    if found is None:
        return None
    with found:
        return found.model_id, found.dim


def _warn_if_unlike_training_data(store_path: str | Path, model_id: str) -> None:
    """One warning when the built-in model has just embedded images unlike its training data
    (`condsim.encoders.domain`): its results on photos are unreliable, and it says what to use."""
    from condsim.collection.backends import open_backend
    from condsim.encoders.domain import builtin_domain_warning

    with open_backend(store_path) as indexed:
        paths = [item.abspath for item in indexed.items()]
    message = builtin_domain_warning(model_id, paths)
    if message is not None:
        warnings.warn(message, CondsimWarning, stacklevel=1)
