"""Where a Milvus store lives and how its collections are laid out (see `milvus.py` for the backend).

`milvus-lite:FILE` starts Milvus Lite's embedded gRPC server on 127.0.0.1 for FILE (pure Python, in
this process); `milvus://HOST:PORT[/DB][?prefix=P]` names a Milvus Standalone or Distributed server.
Both give a `pymilvus.MilvusClient` over gRPC, so everything after `connect` is one code path.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from condsim.errors import CondsimError, StoreError

MILVUS_INSTALL = "pip install 'condsim[milvus]'"
META_DIM = 2  # Milvus needs a vector field in every collection; meta rows carry a dummy one
MAX_PATH = 4096
#: the vector index of every vector collection (items and condition sets): HNSW, inner product
VECTOR_INDEX = {"index_type": "HNSW", "metric_type": "IP", "params": {"M": 32, "efConstruction": 128}}


class MilvusUnavailableError(StoreError):
    """The Milvus server named by --store cannot be reached."""


@dataclass(frozen=True)
class MilvusLocation:
    """Where a Milvus store lives: a Milvus Lite file, or a server address and database."""

    lite_file: Path | None = None
    host: str = ""
    port: int = 19530
    database: str = "default"
    prefix: str = "condsim"

    @property
    def display(self) -> str:
        if self.lite_file is not None:
            return f"milvus-lite:{self.lite_file}"
        return f"milvus://{self.host}:{self.port}/{self.database}"


def parse_location(spec: str) -> MilvusLocation:
    """`milvus-lite:FILE` or `milvus://HOST:PORT[/DB][?prefix=NAME]` -> a `MilvusLocation`."""
    if spec.startswith("milvus-lite:"):
        name = spec[len("milvus-lite:") :]
        if not name:
            raise StoreError("milvus-lite: needs a file name", hint="e.g. --store milvus-lite:photos.db")
        return MilvusLocation(lite_file=Path(name).expanduser().absolute())
    parts = urlsplit(spec)
    if parts.scheme != "milvus" or not parts.hostname:
        raise StoreError(f"cannot read the Milvus address {spec!r}", hint="use milvus://HOST:PORT[/DB]")
    prefix = parse_qs(parts.query).get("prefix", ["condsim"])[0]
    if not prefix.replace("_", "").isalnum():
        raise StoreError(f"invalid collection prefix {prefix!r}", hint="use letters, digits and _")
    try:
        port = parts.port or 19530
    except ValueError as error:
        raise StoreError(f"invalid port in {spec!r}", hint="use milvus://HOST:PORT[/DB]") from error
    database = parts.path.strip("/") or "default"
    return MilvusLocation(host=parts.hostname, port=port, database=database, prefix=prefix)


def connect(location: MilvusLocation) -> Any:
    try:
        from pymilvus import MilvusClient
    except ImportError as error:
        raise CondsimError(
            "the Milvus backend needs pymilvus, which is not installed", hint=MILVUS_INSTALL
        ) from error
    if location.lite_file is not None:
        try:
            from milvus_lite import server_manager_instance
        except ImportError as error:
            raise CondsimError(
                "milvus-lite: stores need the milvus-lite package, which is not installed",
                hint=MILVUS_INSTALL,
            ) from error
        uri = server_manager_instance.start_and_get_uri(str(location.lite_file))
        if uri is None:
            raise StoreError(
                f"Milvus Lite could not open {location.lite_file}",
                hint="is another process using it? Milvus Lite files are opened by one process at a time",
            )
        database = "default"
    else:
        uri, database = f"http://{location.host}:{location.port}", location.database
    token = os.environ.get("CONDSIM_MILVUS_TOKEN", "")
    try:
        return MilvusClient(uri=uri, token=token, db_name=database, timeout=10)
    except Exception as error:  # pymilvus raises MilvusException or grpc errors for a dead address
        raise MilvusUnavailableError(
            f"cannot reach Milvus at {location.display} ({str(error).splitlines()[0][:160]})",
            hint="start the server, or check the address (milvus://HOST:PORT[/DB]) and CONDSIM_MILVUS_TOKEN",
        ) from error


def quoted(text: str) -> str:
    """A Milvus filter string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_sum(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f8").tobytes()).decode()


def decode_sum(text: str, dim: int) -> np.ndarray:
    values = np.frombuffer(base64.b64decode(text), dtype="<f8")
    if values.shape != (dim,):
        raise StoreError("the Milvus store's running sum is damaged", hint="re-index into a new store")
    return values.copy()


def read_meta(client: Any, name: str) -> dict[str, str]:
    if not client.has_collection(name):
        return {}
    keys = ["model_id", "dim", "store_id", "dirty"]
    return {
        str(r["key"]): str(r["value"]) for r in client.get(name, ids=keys, output_fields=["key", "value"])
    }


def create_vector_collection(
    client: Any, name: str, field: str, dim: int, **scalars: tuple[Any, int]
) -> None:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("row", DataType.INT64, is_primary=True)
    for scalar, (kind, length) in scalars.items():
        if kind == "varchar":
            schema.add_field(scalar, DataType.VARCHAR, max_length=length)
        else:
            schema.add_field(scalar, DataType.INT64)
    schema.add_field(field, DataType.FLOAT_VECTOR, dim=dim)
    index = client.prepare_index_params()
    index.add_index(field_name=field, **VECTOR_INDEX)
    client.create_collection(name, schema=schema, index_params=index)


def create_keyed(client: Any, name: str, fields: list[str]) -> None:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(fields[0], DataType.VARCHAR, is_primary=True, max_length=MAX_PATH)
    for field in fields[1:]:
        schema.add_field(field, DataType.VARCHAR, max_length=65_535)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=META_DIM)
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)


def create_store(client: Any, prefix: str, model_id: str, dim: int) -> dict[str, str]:
    """Create the collections of an empty store; the meta rows come last, so a half-created store
    (no meta) is created again on the next try."""
    items = f"{prefix}_items"
    for name in (items, f"{prefix}_failures"):
        if client.has_collection(name):
            client.drop_collection(name)
    create_vector_collection(
        client,
        items,
        "vector",
        dim,
        relpath=("varchar", MAX_PATH),
        abspath=("varchar", MAX_PATH),
        hash=("varchar", 64),
        size=("int", 0),
        mtime_ns=("int", 0),
    )
    create_keyed(client, f"{prefix}_failures", ["relpath", "abspath", "reason"])
    meta_name = f"{prefix}_meta"
    if not client.has_collection(meta_name):
        create_keyed(client, meta_name, ["key", "value"])
    now = repr(time.time())
    meta = {
        "dim": str(dim),
        "store_id": uuid.uuid4().hex,
        "version": "0",
        "next_row": "0",
        "root": "",
        "sum": encode_sum(np.zeros(dim)),
        "count": "0",
        "dirty": "0",
        "writer": "",
        "created_at": now,
        "updated_at": now,
        "format": json.dumps({"condsim_milvus_format": 1}),
        "model_id": model_id,  # written last: its presence marks a complete store
    }
    for key, value in meta.items():
        client.upsert(meta_name, [{"key": key, "value": value, "vector": [0.0] * META_DIM}])
    return meta
