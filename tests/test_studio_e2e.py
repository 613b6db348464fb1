"""faltung studio in a real browser: Debian's Chromium, headless, driven by Playwright. The
real server (uvicorn) runs on a free loopback port; the test draws a "1" on the Draw page,
waits for the prediction and checks that the bars and feature-map tiles appeared, then opens
the Inspect and Runs pages. Screenshots go to pytest's tmp dir."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("PIL")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="Playwright is not installed (pip install playwright)")

CHROMIUM = os.environ.get("FALTUNG_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from test_studio import fake_test_set, tiny_cnn  # noqa: E402

from faltung.studio.app import create_app  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reports = tmp_path_factory.mktemp("reports")
    run = reports / "tiny-run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps(
        {"title": "A tiny run", "test": {"tiny": {"accuracy": 0.5, "loss": 1.2}}}))
    (run / "history.csv").write_text("epoch,loss\n1,2.0\n2,1.2\n")
    tiny_cnn(0).save(str(reports / "tiny-run" / "model.keras"))
    app = create_app(tiny_cnn(0), reports=reports, dataset=fake_test_set)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the studio server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=60_000)
        except Exception as exc:  # a broken browser install: say why, do not error
            pytest.skip(f"Chromium at {CHROMIUM} does not start: {exc}")
        yield b
        b.close()


def _page(browser: object) -> object:
    page = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    return page


def test_draw_a_one_and_see_every_layer(server: str, browser: object, tmp_path: Path) -> None:
    page = _page(browser)
    page.goto(server + "/draw")
    page.wait_for_selector("#probs .fill", state="attached")
    pad = page.locator("#pad").bounding_box()
    x0, y0 = pad["x"] + pad["width"] * 0.52, pad["y"] + pad["height"] * 0.15
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 25):  # a slightly slanted vertical stroke: a "1"
        page.mouse.move(x0 - i * 0.6, y0 + i * pad["height"] * 0.029)
        page.wait_for_timeout(10)
    page.mouse.up()
    page.wait_for_function("Number(document.body.dataset.predictions || 0) >= 1", timeout=20_000)
    page.wait_for_timeout(400)  # the stroke-end prediction
    assert page.locator("#digit").inner_text().strip() in [str(d) for d in range(10)]
    widths = page.eval_on_selector_all(
        "#probs .fill", "els => els.map(e => parseFloat(e.style.width))")
    assert len(widths) == 10 and sum(widths) == pytest.approx(100, abs=1.5)
    assert page.locator("#probs .fill.top").count() == 1
    assert page.locator(".layer[data-layer='conv'] canvas.map").count() == 3
    assert page.locator(".layer[data-layer='pool'] canvas.map").count() == 3
    assert page.locator(".layer[data-kind='vector'] canvas.vector").count() == 3
    assert page.locator(".layer.pass").count() == 1  # the dropout layer
    # the network's input: a bright vertical bar in the 28x28 image
    seen = page.evaluate("""() => { const c = document.getElementById('seen');
        return Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data)
                    .filter((v, i) => i % 4 === 0); }""")
    seen = np.array(seen).reshape(28, 28)
    rows, cols = np.nonzero(seen > 100)
    assert rows.max() - rows.min() >= 17 and cols.max() - cols.min() <= 10
    page.screenshot(path=str(tmp_path / "draw.png"), full_page=True)
    page.click("#clear")
    assert page.locator("#digit").inner_text() == "?"
    assert not page.errors


def test_inspect_and_runs_pages(server: str, browser: object, tmp_path: Path) -> None:
    page = _page(browser)
    page.goto(server + "/inspect")
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=20_000)
    assert page.locator("#filters canvas").count() == 3
    assert page.locator("#kernels .kernel").count() == 6
    assert "true label 0" in page.locator("#confidence").inner_text()
    page.click("#next")
    page.wait_for_function(
        "document.getElementById('confidence').innerText.includes('true label 1')")
    page.screenshot(path=str(tmp_path / "inspect.png"), full_page=True)
    page.goto(server + "/runs")
    page.wait_for_selector("#run-a h2")
    assert page.locator("#run-a h2").inner_text() == "A tiny run"
    assert page.locator("#run-a table.metrics td").count() >= 3
    page.screenshot(path=str(tmp_path / "runs.png"), full_page=True)
    assert not page.errors
