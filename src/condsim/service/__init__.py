"""HTTP service and web page of condsim: `condsim serve --store STORE`.

`create_app(store)` builds the FastAPI application (JSON API under /api, its OpenAPI schema at
/openapi.json and a reference page drawn from it at /docs, the gallery page at /, all assets served by
condsim itself, none from a CDN); `serve(store)` runs it with uvicorn. The service is built on
`condsim.collection.Collection`'s public API only.
"""

from __future__ import annotations

from condsim.service.app import create_app
from condsim.service.server import serve

__all__ = ["create_app", "serve"]
