"""The JSON API under /api: health, conditions, similar (by path or upload), search, images, index.

Handlers are thin: validate parameters (`params`, `files`), call `Collection` under the state's lock,
wrap the answer in the one result envelope (`condsim.collection.envelope`). Lists of results always
come in that envelope; errors are JSON ``{"detail", "hint", "parameter"}`` (see `app`).
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from condsim import __version__
from condsim.collection import Result
from condsim.collection.envelope import condition_summary, result_envelope
from condsim.collection.store import Item
from condsim.conditions import builtin_aliases, get_condition, list_conditions, normalize_name
from condsim.service.files import MAX_UPLOAD_BYTES, THUMBNAIL_SIZES, inside, read_upload, resolve_relative
from condsim.service.params import MAX_K, METHODS, ConditionQuery, RequestError, parse_conditions
from condsim.service.state import ServiceState

router = APIRouter(prefix="/api")
MAX_PAGE = 500


# ---------------------------------------------------------------------------------------------- models
class ResultEntry(BaseModel):
    id: int = Field(description="the store's stable item id (GET /api/images/{id})")
    path: str = Field(description="path relative to the indexed folder")
    score: float
    contributions: dict[str, float] = Field(description="each condition's term of the score")


class ConditionsBlock(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    by: list[str]
    not_: list[str] = Field(alias="not")
    weights: dict[str, float] = Field(description="normalised to sum 1")


class Envelope(BaseModel):
    """The one shape of every result list (also printed by the CLI's --json)."""

    query: dict[str, Any]
    method: str
    conditions: ConditionsBlock
    model: str
    store_version: int
    results: list[ResultEntry]


class GalleryItem(BaseModel):
    id: int
    path: str


class GalleryPage(BaseModel):
    total: int
    offset: int
    limit: int
    store_version: int
    items: list[GalleryItem]


class ConditionInfo(BaseModel):
    name: str
    aliases: list[str]
    values: int
    description: str


class ConditionList(BaseModel):
    conditions: list[ConditionInfo]
    methods: list[str]


class Health(BaseModel):
    status: str
    version: str
    model: str
    model_loaded: bool
    items: int
    store_version: int


class IndexStatus(BaseModel):
    state: Literal["idle", "running", "done", "failed"]
    started_at: float | None
    finished_at: float | None
    seconds: float | None
    embedded: int = Field(description="images embedded so far by this run")
    report: dict[str, Any] | None
    error: str | None
    hint: str | None


# ---------------------------------------------------------------------------------------------- params
def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.condsim
    return state


State = Annotated[ServiceState, Depends(_state)]


@dataclass(frozen=True)
class Options:
    """The parameters every query shares, declared once."""

    by: list[str]
    weight: list[str]
    values: list[str]
    method: str
    k: int


def _options(
    by: Annotated[
        list[str] | None, Query(description="condition to compare under (repeatable); none: plain similarity")
    ] = None,
    weight: Annotated[
        list[str] | None, Query(description="COND=W: relative weight of a 'by' condition")
    ] = None,
    values: Annotated[
        list[str] | None, Query(description="NAME:V1,V2,...: your own condition from a list of values")
    ] = None,
    method: Annotated[
        str,
        Query(description=f"one of {', '.join(METHODS)}", json_schema_extra={"enum": list(METHODS)}),
    ] = "clay",
    k: Annotated[int, Query(ge=1, le=MAX_K, description=f"number of results (1-{MAX_K})")] = 20,
) -> Options:
    return Options(list(by or []), list(weight or []), list(values or []), method, k)


QueryOptions = Annotated[Options, Depends(_options)]
NotConditions = Annotated[
    list[str] | None,
    Query(alias="not", description="condition to ignore (method=clay; repeatable)"),
]


def _envelope(
    state: ServiceState,
    results: list[Result],
    query: dict[str, Any],
    options: Options,
    conditions: ConditionQuery,
) -> dict[str, Any]:
    summary = condition_summary(conditions.by_names, conditions.not_names, conditions.weights)
    return result_envelope(state.collection, results, query=query, method=options.method, conditions=summary)


# ---------------------------------------------------------------------------------------------- routes
@router.get("/health", response_model=Health)
def health(state: State) -> dict[str, Any]:
    """Liveness, the store's model and size, and whether the model is loaded yet."""
    with state.lock:
        return {
            "status": "ok",
            "version": __version__,
            "model": state.store.model_id,
            "model_loaded": state.encoder.loaded,
            "items": len(state.store),
            "store_version": state.store.version,
        }


@cache
def _condition_list() -> dict[str, Any]:
    aliases: dict[str, list[str]] = {}
    for alias, canonical in builtin_aliases().items():
        if alias != normalize_name(canonical):
            aliases.setdefault(canonical, []).append(alias)
    conditions = []
    for name in list_conditions():
        condition = get_condition(name)
        conditions.append(
            {
                "name": name,
                "aliases": sorted(aliases.get(name, [])),
                "values": len(condition),
                "description": condition.description,
            }
        )
    return {"conditions": conditions, "methods": list(METHODS)}


@router.get("/conditions", response_model=ConditionList)
def conditions() -> dict[str, Any]:
    """The built-in conditions (any other: give its values with values=NAME:V1,V2,...)."""
    return _condition_list()


@router.get("/similar", response_model=Envelope)
def similar(
    state: State,
    options: QueryOptions,
    image: Annotated[
        str, Query(min_length=1, max_length=4096, description="query image, relative to the indexed folder")
    ],
    not_: NotConditions = None,
) -> dict[str, Any]:
    """The k images most similar to an image of the collection's folder, under the conditions."""
    conditions = parse_conditions(options.by, not_ or [], options.weight, options.values, options.method)
    with state.lock:
        folder = state.folder()
        path = resolve_relative(folder, image)
        results = state.collection.similar(
            str(path),
            by=conditions.by,
            not_=conditions.not_,
            weights=conditions.weights,
            method=options.method,
            k=options.k,
        )
        stored = state.store.find_path(path)
        query = {"image": path.relative_to(folder).as_posix(), "id": stored.id if stored else None}
        return _envelope(state, results, query, options, conditions)


@router.post("/similar", response_model=Envelope)
def similar_upload(
    state: State,
    options: QueryOptions,
    file: Annotated[UploadFile, File(description=f"query image, at most {MAX_UPLOAD_BYTES // 2**20} MB")],
    not_: NotConditions = None,
) -> dict[str, Any]:
    """The k images most similar to an uploaded image, under the conditions."""
    conditions = parse_conditions(options.by, not_ or [], options.weight, options.values, options.method)
    image = read_upload(file.file.read(MAX_UPLOAD_BYTES + 1))
    with state.lock:
        results = state.collection.similar(
            image,
            by=conditions.by,
            not_=conditions.not_,
            weights=conditions.weights,
            method=options.method,
            k=options.k,
        )
        return _envelope(state, results, {"upload": file.filename or ""}, options, conditions)


@router.get("/search", response_model=Envelope)
def search(
    state: State,
    options: QueryOptions,
    text: Annotated[str, Query(min_length=1, max_length=1000, description="what to look for, in words")],
) -> dict[str, Any]:
    """The k images that best match a text, compared inside the conditions' space when given."""
    if not text.strip():
        raise RequestError(
            "parameter 'text': the text is blank", parameter="text", hint="e.g. text=a red cube"
        )
    conditions = parse_conditions(options.by, [], options.weight, options.values, options.method)
    with state.lock:
        results = state.collection.search(
            text, by=conditions.by, weights=conditions.weights, method=options.method, k=options.k
        )
        return _envelope(state, results, {"text": text}, options, conditions)


@router.get("/images", response_model=GalleryPage)
def images(
    state: State,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 60,
) -> dict[str, Any]:
    """One page of the collection, in store order (the gallery)."""
    with state.lock:
        total, page = state.items_page(offset, limit)
        version = state.store.version
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "store_version": version,
        "items": [{"id": item.id, "path": item.relpath} for item in page],
    }


def _served_file(state: ServiceState, item_id: int) -> tuple[Item, pathlib.Path]:
    """The item with this id and its file, resolved and checked to lie inside the indexed folder."""
    with state.lock:
        item = state.item(item_id)
        folder = state.folder()
    path = inside(folder, folder / item.relpath)
    if not path.is_file():
        raise RequestError(
            f"the file of image {item_id} is gone from the folder",
            status_code=404,
            parameter="id",
            hint="re-index: POST /api/index",
        )
    return item, path


@router.get("/images/{id}", response_class=FileResponse, responses={200: {"content": {"image/*": {}}}})
def image_file(state: State, id: Annotated[int, PathParam(ge=0, le=2**62)]) -> FileResponse:
    """The original image file (only files inside the indexed folder are ever served)."""
    item, path = _served_file(state, id)
    return FileResponse(path, headers={"Cache-Control": "private, max-age=3600", "ETag": f'"{item.hash}"'})


@router.get(
    "/images/{id}/thumbnail", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}}
)
def thumbnail(
    request: Request,
    state: State,
    id: Annotated[int, PathParam(ge=0, le=2**62)],
    size: Annotated[int, Query(ge=THUMBNAIL_SIZES[0], le=THUMBNAIL_SIZES[1])] = 256,
) -> Response:
    """A JPEG thumbnail at most `size` pixels on each side."""
    _, path = _served_file(state, id)
    payload = request.app.state.thumbnails.get(path, size)
    return Response(payload, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.post("/index", response_model=IndexStatus, status_code=202)
def start_index(state: State) -> dict[str, Any]:
    """Re-index the store's folder in the background (one run at a time; 409 while one runs)."""
    return state.start_index()


@router.get("/index", response_model=IndexStatus)
def index_status(state: State) -> dict[str, Any]:
    """Progress of the last re-index started with POST /api/index."""
    return state.index_status()
