"""`create_app`: the FastAPI application of `condsim serve` (JSON API under /api, the page at /).

Security, in one place (`_Guard`, an ASGI middleware in front of everything):

* with a token, every /api request needs ``Authorization: Bearer TOKEN`` or the page's cookie, else
  401; the page URL ``/?token=TOKEN`` (printed at start, as Jupyter does) stores the token in an
  HttpOnly, SameSite=Strict cookie and redirects to the same address without it;
* without a token (loopback only, see `server.check_bind`), requests must name a loopback host in
  their Host header, so a web page elsewhere cannot reach the API through DNS rebinding;
* a request body larger than an upload may be is refused with 413 before it is read.

Errors never carry a traceback: a `CondsimError` (a user mistake) is answered with its status (422
for a bad parameter, 404, 403, 409, 413, ...) and ``{"detail", "hint", "parameter"}``; anything else
with 500 and a generic message, the traceback going to the server's log only.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from condsim import __version__
from condsim.encoders.base import Encoder
from condsim.errors import (
    CondsimError,
    ImageLoadError,
    InvalidInputError,
    ModelLoadError,
    PromptGenerationError,
    StoreError,
    UnknownConditionError,
)
from condsim.service.api import router
from condsim.service.files import MAX_UPLOAD_BYTES, Thumbnails
from condsim.service.params import RequestError
from condsim.service.state import ServiceState

logger = logging.getLogger("condsim.service")

STATIC_DIR = Path(__file__).parent / "static"
COOKIE_NAME = "condsim_token"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: an upload plus its multipart framing
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _error_body(message: str, hint: str | None = None, parameter: str | None = None) -> dict[str, Any]:
    return {"detail": message, "hint": hint, "parameter": parameter}


def status_of(error: CondsimError) -> int:
    """The HTTP status of a user error: its own for `RequestError`, else by kind."""
    if isinstance(error, RequestError):
        return error.status_code
    if isinstance(error, InvalidInputError | UnknownConditionError | ImageLoadError):
        return 422
    if isinstance(error, StoreError):
        return 409
    if isinstance(error, ModelLoadError):
        return 503
    if isinstance(error, PromptGenerationError):
        return 502
    return 400


class _BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, f"the request body is larger than {MAX_BODY_BYTES // 2**20} MB")


class _Guard:
    """Token / Host checks and the request body limit, before any route runs (module docstring)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope["path"], headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            await _json(413, _BodyTooLarge().detail, "send a smaller image", "file")(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise _BodyTooLarge()
            return message

        await self.app(scope, limited_receive, send)

    def _refusal(self, path: str, headers: Headers) -> Response | None:
        if self.token is None:
            host = headers.get("host", "").strip()
            name = (
                host[1 : host.index("]")] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
            )
            if name.lower() not in LOOPBACK_HOSTS:
                return _json(
                    403,
                    "this condsim server answers loopback addresses only",
                    "open it as http://127.0.0.1:PORT/, or serve with --token to allow other hosts",
                )
            return None
        if not (path == "/api" or path.startswith("/api/")):
            return None
        if self.authorised(headers):
            return None
        response = _json(
            401,
            "this condsim server needs its token",
            "send 'Authorization: Bearer TOKEN', or open the URL `condsim serve` printed (/?token=TOKEN)",
        )
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    def authorised(self, headers: Headers) -> bool:
        assert self.token is not None
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and _same(credentials.strip(), self.token):
            return True
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE_NAME and _same(value, self.token):
                return True
        return False


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def _json(status: int, message: str, hint: str | None = None, parameter: str | None = None) -> JSONResponse:
    return JSONResponse(_error_body(message, hint, parameter), status_code=status)


def _validation_message(error: RequestValidationError) -> tuple[str, str | None]:
    """'parameter 'k': Input should be less than or equal to 1000' for FastAPI's first error."""
    parts: list[str] = []
    first: str | None = None
    for detail in error.errors()[:3]:
        location = [str(part) for part in detail.get("loc", ()) if part not in ("query", "path", "body")]
        name = location[0] if location else "request"
        first = first or name
        parts.append(f"parameter '{name}': {detail.get('msg', 'invalid value')}")
    return "; ".join(parts) or "invalid request", first


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CondsimError)
    async def condsim_error(request: Request, error: CondsimError) -> JSONResponse:
        return _json(status_of(error), str(error), error.hint, getattr(error, "parameter", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        message, parameter = _validation_message(error)
        return _json(422, message, "see /docs for the parameters", parameter)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        response = _json(error.status_code, str(error.detail))
        for name, value in (error.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        logger.error("internal error on %s %s", request.method, request.url.path, exc_info=error)
        return _json(500, "internal error", "see the server's log")


def create_app(
    store_path: str | Path,
    *,
    model: str | Encoder | None = None,
    token: str | None = None,
    device: str = "auto",
) -> FastAPI:
    """The service for the store at `store_path` (opened now: a missing store fails here).

    `model`: a model name or path, or an `Encoder` (default: the model the store records), loaded
    on `device` by the first request that must encode something. `token`: require it on every /api
    request.
    """
    if token is not None and not token.strip():
        raise InvalidInputError("the token is empty", hint="pass a non-empty --token, or none")
    state = ServiceState(store_path, model, device)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(
        title="condsim",
        version=__version__,
        summary="Conditional image similarity over one indexed collection.",
        lifespan=lifespan,
        # FastAPI's Swagger UI and ReDoc load their code from a CDN and stay blank offline: /docs is
        # our own page instead, drawn from /openapi.json by static/docs.js
        docs_url=None,
        redoc_url=None,
    )
    app.state.condsim = state
    app.state.thumbnails = Thumbnails()
    app.include_router(router)
    _install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False, response_model=None)
    def page(request: Request) -> Response:
        """The web page; ``/?token=T`` stores the token in a cookie and drops it from the address."""
        given = request.query_params.get("token")
        if given is None:
            return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})
        if token is not None and not _same(given, token):
            return _json(401, "wrong token", "open the URL `condsim serve` printed")
        rest = [(key, value) for key, value in request.query_params.multi_items() if key != "token"]
        redirect = RedirectResponse("/" + (f"?{urlencode(rest)}" if rest else ""), status_code=303)
        if token is not None:
            redirect.set_cookie(COOKIE_NAME, token, httponly=True, samesite="strict", path="/")
        return redirect

    @app.get("/docs", include_in_schema=False)
    def api_reference() -> FileResponse:
        """Every endpoint and parameter, rendered in the browser from /openapi.json."""
        return FileResponse(STATIC_DIR / "docs.html", headers={"Cache-Control": "no-cache"})

    app.add_middleware(_Guard, token=token)
    return app
