"""`serve`: run the app with uvicorn, refusing to expose an unprotected service beyond this machine."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from condsim.errors import CondsimError
from condsim.service.app import create_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
TOKEN_ENVIRONMENT = "CONDSIM_TOKEN"


class ServeError(CondsimError):
    """The service cannot start as asked (e.g. a non-loopback address without a token)."""


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token: anyone on the network could read the
    collection's images and start re-indexing."""
    if not is_loopback(host) and not token:
        raise ServeError(
            f"refusing to serve on {host} without a token: anyone who reaches this machine could "
            "browse the collection",
            hint=f"pass --token SECRET (or set {TOKEN_ENVIRONMENT}), or serve on 127.0.0.1",
        )
    if token is not None and not 0 < len(token) <= 512:
        raise ServeError("the token is empty or longer than 512 characters", hint="use a shorter --token")


def check_port_free(host: str, port: int) -> None:
    """Fail with one clear line now rather than a uvicorn log line after the store is opened."""
    if not 0 < port < 65536:
        raise ServeError(f"--port {port} is not a TCP port", hint=f"e.g. --port {DEFAULT_PORT}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as error:
            raise ServeError(
                f"cannot listen on {host}:{port} ({error.strerror or error})",
                hint="another program uses that port: pick another with --port",
            ) from error


def page_url(host: str, port: int, token: str | None) -> str:
    """The address to open, with the token as Jupyter prints it (URL-quoted; the page then moves it to
    a cookie)."""
    shown = DEFAULT_HOST if host in ("0.0.0.0", "::", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?{urlencode({'token': token})}" if token else "")


def serve(
    store: str | Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    model: str | None = None,
    device: str = "auto",
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the store at `store` until interrupted; `token` defaults to $CONDSIM_TOKEN; a model,
    when one is needed, runs on `device`."""
    import uvicorn

    token = token if token is not None else (os.environ.get(TOKEN_ENVIRONMENT) or None)
    check_bind(host, token)
    check_port_free(host, port)
    app = create_app(store, model=model, token=token, device=device)
    announce(f"condsim is serving {Path(store)} at {page_url(host, port, token)}")
    announce("open that address in a browser; press Ctrl+C to stop")
    uvicorn.run(app, host=host.strip("[]"), port=port, log_level="warning")
