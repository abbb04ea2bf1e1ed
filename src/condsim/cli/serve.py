"""`condsim serve`: the HTTP API and the web page over one store (`condsim.service`)."""

from __future__ import annotations

import typer

from condsim.cli import options
from condsim.cli.app import app
from condsim.cli.render import console


@app.command()
def serve(
    store: options.StorePath = options.STORE_NOT_GIVEN,
    host: str = typer.Option(
        "127.0.0.1", "--host", help="address to listen on; another than loopback needs --token"
    ),
    port: int = typer.Option(8765, "--port", help="TCP port to listen on"),
    token: str | None = typer.Option(
        None, "--token", envvar="CONDSIM_TOKEN", help="require this token on every API request"
    ),
    model: options.Model = None,
    device: options.Device = "auto",
) -> None:
    """Serve the store's JSON API (/api, OpenAPI at /docs) and web page; prints the address to open."""
    from condsim.service.server import serve as run_server

    run_server(
        store,
        host=host,
        port=port,
        token=token,
        model=model,
        device=device,
        announce=lambda line: console.print(line, highlight=False, soft_wrap=True),
    )
