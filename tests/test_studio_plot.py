"""The studio's /api/plot: the model's graph as keras.utils.plot_model draws it, as SVG."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
pytest.importorskip("PIL")
pytest.importorskip("pydot")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from test_studio import fake_test_set, tiny_cnn  # noqa: E402

from faltung.studio.app import create_app  # noqa: E402
from faltung.utils import model_visualization as plotting  # noqa: E402

needs_dot = pytest.mark.skipif(not plotting.check_graphviz(),
                               reason="Graphviz's dot program is missing")


@pytest.fixture
def client(tmp_path) -> TestClient:
    tiny_cnn(1).save(str(tmp_path / "tiny.keras"))
    return TestClient(create_app(tiny_cnn(0), folders=[tmp_path], dataset=fake_test_set))


@needs_dot
def test_plot_is_the_svg_of_plot_model(client: TestClient) -> None:
    answer = client.get("/api/plot")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/svg+xml"
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    svg = answer.text
    assert "<svg" in svg
    for name in ("conv", "pool", "flat", "drop", "hidden", "out"):
        assert f">{name}<" in svg  # every layer's box, titled with its name
    assert "Output shape" not in svg
    shapes = client.get("/api/plot?show_shapes=1&model=tiny.keras").text
    assert "(None, 26, 26, 3)" in shapes and "Output shape" in shapes
    assert client.get("/api/plot?show_shapes=1&model=tiny.keras").text == shapes  # cached


def test_plot_bad_requests(client: TestClient) -> None:
    answer = client.get("/api/plot?show_shapes=maybe")
    assert answer.status_code == 400 and "show_shapes must be" in answer.json()["error"]
    assert client.get("/api/plot?model=missing.keras").status_code == 404


def test_plot_without_graphviz(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plotting, "check_graphviz", lambda: False)
    answer = client.get("/api/plot")
    assert answer.status_code == 501 and "graphviz" in answer.json()["error"]
