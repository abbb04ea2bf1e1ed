"""End to end in a real browser: headless Debian Chromium, driven by Selenium through chromedriver,
against the real server (uvicorn) over a rendered scene collection indexed with the built-in model.

Opens the page, clicks an image, adds the condition "color", and checks that the results shown are
the Python API's and share the query's colour (the scenes' true labels); the address bar holds the
query, and opening that address again shows the same results. A screenshot lands in out/.

CI installs chromium and chromium-driver (`make browser`); elsewhere the test is skipped when they are
missing, but with CI=true a missing browser fails it.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import uvicorn

from condsim.collection import Collection, index_folder
from condsim.demo import render_collection
from condsim.encoders import load_encoder
from condsim.service import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[2] / "out" / "service_e2e.png"
N_SCENES = 120
QUERY = "scene_00001.png"
K = 8

pytestmark = pytest.mark.slow


def _require_browser() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if not missing:
        return
    message = f"{', '.join(missing)} missing: install Debian's chromium and chromium-driver (make browser)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser test: {message}")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, str]]]:
    """Scenes rendered into images/ and indexed with the built-in model into store/."""
    root = tmp_path_factory.mktemp("browser")
    labels = render_collection(root / "images", N_SCENES)
    index_folder(root / "images", root / "store", load_encoder(None), show_progress=False)
    return root / "store", labels


@pytest.fixture(scope="module")
def server(demo_store: tuple[Path, dict[str, dict[str, str]]]) -> Iterator[str]:
    """The real service on a free loopback port, in a thread; yields its base URL."""
    port = _free_port()
    config = uvicorn.Config(create_app(demo_store[0]), host="127.0.0.1", port=port, log_level="warning")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uvicorn_server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[object]:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="condsim-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _result_paths(driver: object, timeout: float = 90.0) -> list[str]:
    """The paths of the result cards once results are shown (the first query loads the model)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#grid li.result"))
    )
    cards = driver.find_elements(By.CSS_SELECTOR, "#grid li.result")  # type: ignore[attr-defined]
    return [card.get_attribute("data-path") for card in cards]


def test_click_an_image_add_color_and_see_same_coloured_results(
    server: str, browser: object, demo_store: tuple[Path, dict[str, dict[str, str]]]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import Select, WebDriverWait

    store, labels = demo_store
    driver = browser
    driver.get(server + "/?k=8")  # type: ignore[attr-defined]
    wait = WebDriverWait(driver, 60)
    query_button = wait.until(
        expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, f'button.thumb[data-path="{QUERY}"]'))
    )
    query_button.click()
    plain = _result_paths(driver)
    assert len(plain) == K and QUERY not in plain

    wait.until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, '#condition-select option[value="color"]')
        )
    )
    Select(driver.find_element(By.ID, "condition-select")).select_by_value("color")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "add-by").click()  # type: ignore[attr-defined]
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "list-title"), "by color"))
    shown = _result_paths(driver)

    address = parse_qs(urlsplit(driver.current_url).query)  # type: ignore[attr-defined]
    assert address["image"] == [QUERY] and address["by"] == ["color"]
    with Collection.open(store) as collection:
        expected = collection.similar(str(store.parent / "images" / QUERY), by="color", k=K)
    assert shown == [result.relpath for result in expected]
    colour = labels[QUERY]["color"]
    same = [path for path in shown if labels[path]["color"] == colour]
    assert len(same) >= 6, f"query colour {colour}; shown {[labels[p]['color'] for p in shown]}"
    assert len(same) > sum(labels[path]["color"] == colour for path in plain)
    cards = driver.find_elements(By.CSS_SELECTOR, "#grid li.result .contributions li")  # type: ignore[attr-defined]
    assert cards and all(card.text.startswith("color ") for card in cards)

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOT))  # type: ignore[attr-defined]
    driver.set_window_size(390, 844)  # type: ignore[attr-defined]  # a phone
    driver.save_screenshot(str(SCREENSHOT.with_name("service_e2e_phone.png")))  # type: ignore[attr-defined]

    # the address is a bookmark: opening it again shows the same query
    driver.get(driver.current_url)  # type: ignore[attr-defined]
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "list-title"), "by color"))
    assert _result_paths(driver) == shown


def test_the_api_reference_renders_offline_from_the_servers_own_schema(
    server: str,
    browser: object,
) -> None:
    """/docs draws every endpoint from /openapi.json with condsim's own script: no CDN involved
    (the browser profile has background networking off, and the page loads nothing from elsewhere)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server}/docs")  # type: ignore[attr-defined]
    WebDriverWait(browser, 30).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#api .api-operation"))
    )
    titles = [node.text for node in browser.find_elements(By.CSS_SELECTOR, "#api h3")]  # type: ignore[attr-defined]
    assert "GET /api/similar" in titles and "GET /api/conditions" in titles
    parameters = [node.text for node in browser.find_elements(By.CSS_SELECTOR, "#api .api-name")]  # type: ignore[attr-defined]
    assert {"k", "by"} <= set(parameters)
    sources = browser.execute_script(  # type: ignore[attr-defined]
        "return performance.getEntriesByType('resource').map(entry => entry.name)"
    )
    assert sources and all(source.startswith(server) for source in sources)
