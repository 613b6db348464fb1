"""The Inspect page shows the model's plot_model picture (real browser, like
tests/test_studio_e2e.py, whose server and browser fixtures it reuses)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pydot")
import test_studio_e2e as e2e  # noqa: E402

from faltung.utils.model_visualization import check_graphviz  # noqa: E402

server = e2e.server  # the same fixtures: a uvicorn server and headless Chromium
browser = e2e.browser


@pytest.mark.skipif(not check_graphviz(), reason="Graphviz's dot program is missing")
def test_inspect_page_shows_the_graph(server: str, browser: object, tmp_path: Path) -> None:
    page = e2e._page(browser)
    page.goto(server + "/inspect")
    page.wait_for_function("document.getElementById('plot').naturalWidth > 0", timeout=20_000)
    first = page.evaluate("document.getElementById('plot').naturalHeight")
    page.uncheck("#plot-shapes")
    page.wait_for_function(f"document.getElementById('plot').naturalHeight !== {first}")
    assert page.locator("#plot-note").inner_text() == ""
    page.screenshot(path=str(tmp_path / "inspect-plot.png"), full_page=True)
    assert not page.errors
