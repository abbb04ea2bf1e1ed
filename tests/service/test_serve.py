"""`condsim serve` and `condsim.service.serve`: what may be bound, the printed address (with the
token, as Jupyter prints it), CONDSIM_TOKEN, and one-line errors instead of tracebacks."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from service_support import SceneStore

import condsim.cli as cli
from condsim.errors import ModelLoadError
from condsim.service.server import ServeError, check_bind, check_port_free, is_loopback, page_url


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("192.168.1.20", False),
        ("::", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_binding_beyond_loopback_needs_a_token() -> None:
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "a-token")
    with pytest.raises(ServeError, match="without a token") as refused:
        check_bind("0.0.0.0", None)
    assert refused.value.hint is not None and "--token" in refused.value.hint
    with pytest.raises(ServeError, match="512"):
        check_bind("127.0.0.1", "x" * 513)


def test_page_url_carries_the_token() -> None:
    assert page_url("127.0.0.1", 8765, "T0k") == "http://127.0.0.1:8765/?token=T0k"
    assert page_url("127.0.0.1", 8765, None) == "http://127.0.0.1:8765/"
    assert page_url("0.0.0.0", 80, "t") == "http://127.0.0.1:80/?token=t"
    assert page_url("::1", 9000, None) == "http://[::1]:9000/"
    assert page_url("127.0.0.1", 8765, "a b&c=d/e") == "http://127.0.0.1:8765/?token=a+b%26c%3Dd%2Fe"


def test_a_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServeError, match=f"cannot listen on 127.0.0.1:{port}"):
            check_port_free("127.0.0.1", port)
    with pytest.raises(ServeError, match="not a TCP port"):
        check_port_free("127.0.0.1", 70_000)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main(list(args))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def test_serve_prints_the_page_address_and_runs_uvicorn(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, scene_store: SceneStore
) -> None:
    import uvicorn

    ran: dict[str, Any] = {}

    def fake_run(app: Any, **options: Any) -> None:
        ran.update(options, app=app)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setenv("CONDSIM_TOKEN", "from-the-environment")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, out, err = _run(capsys, "serve", "--store", str(scene_store.store), "--port", str(port))
    assert code == 0, err
    assert f"http://127.0.0.1:{port}/?token=from-the-environment" in out
    assert ran["host"] == "127.0.0.1" and ran["port"] == port
    assert ran["app"].title == "condsim"


def test_serve_loads_the_model_on_the_device_given(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, scene_store: SceneStore
) -> None:
    import uvicorn

    import condsim.encoders

    ran: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: ran.update(app=app))
    monkeypatch.delenv("CONDSIM_TOKEN", raising=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = _run(
        capsys, "serve", "--store", str(scene_store.store), "--port", str(port), "--device", "cpu"
    )
    assert code == 0, err
    encoder = ran["app"].state.condsim.encoder
    assert not encoder.loaded  # nothing loaded before a request needs the model

    asked: list[str] = []

    def refuse(name: object = None, *, device: str = "cpu") -> Any:
        asked.append(device)
        raise ModelLoadError("no model in this test", hint="none")

    monkeypatch.setattr(condsim.encoders, "load_encoder", refuse)
    with pytest.raises(ModelLoadError):
        encoder.encode_texts(["a red cube"])
    assert asked == ["cpu"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "refusing to serve on 0.0.0.0 without a token"),
        (["--port", "0"], "not a TCP port"),
        (["--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_serve_errors_are_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    scene_store: SceneStore,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("CONDSIM_TOKEN", raising=False)
    code, _, err = _run(capsys, "serve", "--store", str(scene_store.store), *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_serve_a_missing_store(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    code, _, err = _run(capsys, "serve", "--store", str(tmp_path / "nothing"))
    assert code == 2 and "no store at" in err
