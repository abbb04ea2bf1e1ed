"""The JSON API: envelopes that match `Collection`, and every error path (auth, traversal, limits,
bad parameters) answered with the right status and a message naming the parameter, never a traceback."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from service_support import MODEL, TOKEN, SceneStore

from condsim.collection import Collection, index_folder
from condsim.demo import render_collection
from condsim.encoders import Encoder
from condsim.service import create_app
from condsim.service.app import COOKIE_NAME
from condsim.service.files import MAX_UPLOAD_BYTES

QUERY = "scene_00003.png"


def _envelope_keys(body: dict) -> None:
    assert set(body) == {"query", "method", "conditions", "model", "store_version", "results"}
    assert set(body["conditions"]) == {"by", "not", "weights"}
    for result in body["results"]:
        assert set(result) == {"id", "path", "score", "contributions"}


def _expected(scene_store: SceneStore, make_encoder: type[Encoder], query: object, **options: object) -> list:
    with Collection.open(scene_store.store, make_encoder(model_id=MODEL, dim=64)) as collection:  # type: ignore[call-arg]
        return collection.similar(query, **options)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- answers
def test_health_reports_the_store_and_loads_no_model_for_a_stored_image(client: TestClient) -> None:
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["model"] == MODEL and health["items"] == 24
    assert health["model_loaded"] is False
    assert client.get("/api/similar", params={"image": QUERY, "method": "plain"}).status_code == 200
    assert client.get("/api/health").json()["model_loaded"] is False  # a stored embedding needs no model
    assert client.get("/api/similar", params={"image": QUERY, "by": "color"}).status_code == 200
    assert client.get("/api/health").json()["model_loaded"] is True  # the prompts had to be embedded


def test_conditions_lists_the_builtins(client: TestClient) -> None:
    body = client.get("/api/conditions").json()
    names = [condition["name"] for condition in body["conditions"]]
    assert "color" in names and "shape" in names
    color = body["conditions"][names.index("color")]
    assert "colour" in color["aliases"] and color["values"] > 50
    assert body["methods"] == ["clay", "crl", "plain", "rerank"]


def test_gallery_pages_through_every_item(client: TestClient, scene_store: SceneStore) -> None:
    first = client.get("/api/images", params={"limit": 10}).json()
    rest = client.get("/api/images", params={"offset": 10, "limit": 500}).json()
    assert first["total"] == rest["total"] == 24
    paths = [item["path"] for item in first["items"] + rest["items"]]
    assert sorted(paths) == sorted(scene_store.labels)
    assert len({item["id"] for item in first["items"] + rest["items"]}) == 24


@pytest.mark.parametrize(
    ("params", "options"),
    [
        ({"method": "plain"}, {"method": "plain"}),
        ({"by": "color"}, {"by": ["color"]}),
        (
            {"by": ["colour", "shape"], "weight": "colour=3"},
            {"by": ["color", "shape"], "weights": {"color": 3}},
        ),
        ({"by": "shape", "not": "color"}, {"by": ["shape"], "not_": ["color"]}),
        ({"by": "color", "method": "crl"}, {"by": ["color"], "method": "crl"}),
    ],
)
def test_similar_matches_the_python_api(
    client: TestClient, scene_store: SceneStore, make_encoder: type[Encoder], params: dict, options: dict
) -> None:
    response = client.get("/api/similar", params={"image": QUERY, "k": 7, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    _envelope_keys(body)
    expected = _expected(scene_store, make_encoder, str(scene_store.folder / QUERY), k=7, **options)
    assert [r["path"] for r in body["results"]] == [r.relpath for r in expected]
    assert [r["score"] for r in body["results"]] == pytest.approx([r.score for r in expected], abs=1e-5)
    for result, reference in zip(body["results"], expected, strict=True):
        assert result["contributions"] == pytest.approx(reference.contributions, abs=1e-5)
        assert (
            sum(result["contributions"].values()) == pytest.approx(result["score"], abs=1e-4)
            or not (result["contributions"])
        )
    assert body["query"]["image"] == QUERY and isinstance(body["query"]["id"], int)
    assert body["method"] == options.get("method", "clay") and body["model"] == MODEL
    assert body["conditions"]["by"] == options.get("by", [])
    assert body["conditions"]["not"] == options.get("not_", [])
    if "weights" in options:
        assert body["conditions"]["weights"] == pytest.approx({"color": 0.75, "shape": 0.25})


def test_result_ids_serve_the_result_files(client: TestClient, scene_store: SceneStore) -> None:
    body = client.get("/api/similar", params={"image": QUERY, "by": "color", "k": 3}).json()
    for result in body["results"]:
        original = client.get(f"/api/images/{result['id']}")
        assert original.status_code == 200
        assert original.content == (scene_store.folder / result["path"]).read_bytes()
        thumbnail = client.get(f"/api/images/{result['id']}/thumbnail", params={"size": 64})
        assert thumbnail.headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(thumbnail.content)) as image:
            assert max(image.size) <= 64
    missing = client.get("/api/images/999999")
    assert missing.status_code == 404 and missing.json()["parameter"] == "id"


def test_own_condition_from_a_list_of_values(client: TestClient) -> None:
    response = client.get(
        "/api/similar", params={"image": QUERY, "by": "hue", "values": "hue:red,green,blue,yellow,purple"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["conditions"]["by"] == ["hue"]


def test_upload_matches_the_python_api(
    client: TestClient, scene_store: SceneStore, make_encoder: type[Encoder]
) -> None:
    payload = (scene_store.folder / "scene_00005.png").read_bytes()
    response = client.post(
        "/api/similar", params={"by": "color", "k": 5}, files={"file": ("mine.png", payload, "image/png")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    _envelope_keys(body)
    assert body["query"] == {"upload": "mine.png"}
    expected = _expected(scene_store, make_encoder, payload, by=["color"], k=5)
    assert [r["path"] for r in body["results"]] == [r.relpath for r in expected]


def test_search_by_text(client: TestClient) -> None:
    response = client.get("/api/search", params={"text": "a red cube", "by": "color", "k": 4})
    assert response.status_code == 200, response.text
    body = response.json()
    _envelope_keys(body)
    assert body["query"] == {"text": "a red cube"} and len(body["results"]) == 4


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"k": 1001}, "k", "1000"),
        ({"k": 0}, "k", "greater than"),
        ({"by": "sparkle"}, "by", "unknown condition 'sparkle'"),
        ({"by": "color", "not": "glitter"}, "not", "unknown condition 'glitter'"),
        ({"method": "magic"}, "method", "'clay', 'crl'"),
        ({"not": "color"}, "not", "there is none"),
        ({"by": "shape", "not": "color", "method": "crl"}, "not", "method=clay"),
        ({"by": "color", "method": "plain"}, "method", "plain"),
        ({"by": "color", "weight": "color"}, "weight", "COND=W"),
        ({"by": "color", "weight": "shape=2"}, "weight", "not one of the 'by' conditions"),
        ({"by": "x", "values": "x"}, "values", "NAME:V1"),
        ({"by": ["color", "shape"], "weight": "color=1e308"}, "weight", "between 0.001 and 1000"),
        ({"by": ["color", "shape"], "weight": "color=0"}, "weight", "between 0.001 and 1000"),
        ({"by": ["color", "shape"], "weight": ["color=2", "colour=3"]}, "weight", "already has a weight"),
        ({"by": "finish", "values": "finish:glossy,matte"}, "values", "cannot separate images"),
        ({"by": ["color", "colour"]}, "by", "given twice"),
        ({"image": ""}, "image", "at least 1 character"),
    ],
)
def test_bad_parameters_get_422_naming_the_parameter(
    client: TestClient, params: dict, parameter: str, words: str
) -> None:
    response = client.get("/api/similar", params={"image": QUERY, **params})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["parameter"] == parameter
    assert f"parameter '{parameter}'" in body["detail"] and words in body["detail"]


def test_missing_image_is_404(client: TestClient) -> None:
    response = client.get("/api/similar", params={"image": "no/such.png"})
    assert response.status_code == 404 and response.json()["parameter"] == "image"


@pytest.mark.parametrize(
    "image", ["../store/store.sqlite", "../../../../etc/passwd", "a/../../store/store.sqlite"]
)
def test_paths_leaving_the_folder_are_refused(client: TestClient, image: str) -> None:
    response = client.get("/api/similar", params={"image": image})
    assert response.status_code == 403, response.text
    assert "outside the collection's folder" in response.json()["detail"]


def test_absolute_paths_are_refused(client: TestClient, scene_store: SceneStore) -> None:
    response = client.get("/api/similar", params={"image": str(scene_store.folder / QUERY)})
    assert response.status_code == 422 and "relative" in response.json()["detail"]


def test_symlinks_out_of_the_folder_are_never_followed(tmp_path: Path, make_encoder: type[Encoder]) -> None:
    folder = tmp_path / "images"
    render_collection(folder, 3)
    store = tmp_path / "store"
    index_folder(folder, store, make_encoder(model_id=MODEL, dim=64), show_progress=False)  # type: ignore[call-arg]
    secret = tmp_path / "secret.png"
    secret.write_bytes((folder / "scene_00000.png").read_bytes())
    # a query path that is a symlink leading out of the folder
    (folder / "escape.png").symlink_to(secret)
    # an indexed image replaced by a symlink leading out of the folder
    (folder / "scene_00001.png").unlink()
    (folder / "scene_00001.png").symlink_to(secret)
    with TestClient(create_app(store), base_url="http://127.0.0.1") as client:
        assert client.get("/api/similar", params={"image": "escape.png"}).status_code == 403
        items = {item["path"]: item["id"] for item in client.get("/api/images").json()["items"]}
        for url in (
            f"/api/images/{items['scene_00001.png']}",
            f"/api/images/{items['scene_00001.png']}/thumbnail",
        ):
            response = client.get(url)
            assert response.status_code == 403, url
            assert response.content != secret.read_bytes()
        assert client.get(f"/api/images/{items['scene_00002.png']}").status_code == 200


def test_upload_limits(client: TestClient) -> None:
    too_big = client.post(
        "/api/similar", files={"file": ("big.png", b"\0" * (MAX_UPLOAD_BYTES + 1), "image/png")}
    )
    assert too_big.status_code == 413
    buffer = io.BytesIO()
    Image.new("1", (10_000, 9_000)).save(buffer, format="PNG")  # 90 Mpx, over Pillow's limit, a small file
    too_many_pixels = client.post(
        "/api/similar", files={"file": ("bomb.png", buffer.getvalue(), "image/png")}
    )
    assert too_many_pixels.status_code == 413 and "pixels" in too_many_pixels.json()["detail"]

    def streamed() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
        for _ in range(MAX_UPLOAD_BYTES // 2**20 + 2):
            yield b"\0" * 2**20
        yield b"\r\n--b--\r\n"

    chunked = client.post(
        "/api/similar", content=streamed(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert chunked.status_code == 413
    not_an_image = client.post("/api/similar", files={"file": ("x.png", b"hello", "image/png")})
    assert not_an_image.status_code == 422 and not_an_image.json()["parameter"] == "file"
    no_file = client.post("/api/similar")
    assert no_file.status_code == 422 and no_file.json()["parameter"] == "file"


def test_internal_errors_carry_no_traceback(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals at /srv/x.py line 12")

    state = client.app.state.condsim  # type: ignore[attr-defined]
    monkeypatch.setattr(state.collection, "similar", explode)
    response = client.get("/api/similar", params={"image": QUERY})
    assert response.status_code == 500
    assert "secret" not in response.text and "Traceback" not in response.text
    assert response.json()["detail"] == "internal error"


def test_unknown_route_is_json_404(client: TestClient) -> None:
    response = client.get("/api/nothing")
    assert response.status_code == 404 and response.json()["detail"] == "Not Found"


def test_the_api_reference_is_served_locally(client: TestClient) -> None:
    """/docs is condsim's own page (FastAPI's Swagger UI would fetch its code from a CDN), drawn from
    /openapi.json by a script condsim serves; ReDoc, which also needs a CDN, is not offered."""
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "cdn" not in page.text.lower() and 'src="/static/docs.js"' in page.text
    assert client.get("/static/docs.js").status_code == 200
    assert "/api/similar" in client.get("/openapi.json").json()["paths"]
    assert client.get("/redoc").status_code == 404


# ---------------------------------------------------------------------------------------------- security
def test_token_is_required_on_the_api(token_client: TestClient) -> None:
    for url in ("/api/health", f"/api/similar?image={QUERY}", "/api/images/1", "/api/images/1/thumbnail"):
        response = token_client.get(url)
        assert response.status_code == 401, url
        assert response.headers["www-authenticate"] == "Bearer"
    assert token_client.post("/api/index").status_code == 401
    assert token_client.get("/api/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert token_client.get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert token_client.get("/").status_code == 200  # the page itself holds nothing private


def test_page_moves_the_token_into_a_cookie(token_client: TestClient) -> None:
    response = token_client.get(f"/?token={TOKEN}&image={QUERY}&by=color", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/?image={QUERY}&by=color"
    cookie = response.headers["set-cookie"]
    assert (
        cookie.startswith(f"{COOKIE_NAME}={TOKEN}") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    )
    assert token_client.get("/api/health").status_code == 200  # the client now sends the cookie
    token_client.cookies.clear()
    assert token_client.get("/?token=wrong", follow_redirects=False).status_code == 401
    assert token_client.get("/api/health").status_code == 401


def test_without_a_token_only_loopback_hosts_are_answered(scene_store: SceneStore) -> None:
    with TestClient(create_app(scene_store.store), base_url="http://rebound.example.com") as client:
        response = client.get("/api/health")
        assert response.status_code == 403 and "loopback" in response.json()["detail"]
    for host in ("http://localhost:8765", "http://[::1]:8765"):
        with TestClient(create_app(scene_store.store), base_url=host) as client:
            assert client.get("/api/health").status_code == 200


# ---------------------------------------------------------------------------------------------- index
def test_reindex_runs_in_the_background(tmp_path: Path, make_encoder: type[Encoder]) -> None:
    folder = tmp_path / "images"
    render_collection(folder, 4)
    store = tmp_path / "store"
    index_folder(folder, store, make_encoder(model_id=MODEL, dim=64), show_progress=False)  # type: ignore[call-arg]
    render_collection(folder, 6)
    with TestClient(create_app(store), base_url="http://127.0.0.1") as client:
        assert client.get("/api/index").json()["state"] == "idle"
        started = client.post("/api/index")
        assert started.status_code == 202 and started.json()["state"] in ("running", "done")
        deadline = time.monotonic() + 30
        while (status := client.get("/api/index").json())[
            "state"
        ] == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status["state"] == "done", status
        assert status["report"]["indexed"] == 2 and status["report"]["total"] == 6 and status["embedded"] == 2
        assert client.get("/api/images").json()["total"] == 6
