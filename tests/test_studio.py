"""faltung studio's JSON API through Starlette's TestClient: every endpoint on a tiny CNN built
here and a tiny fake test set, the MNIST preprocessing of drawings, and bad input (oversized or
malformed bodies, non-image files, model paths outside the allowed folders, unknown layers),
which must be answered 4xx with a message."""

from __future__ import annotations

import base64
import io
import json
import threading
import warnings

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
PIL = pytest.importorskip("PIL.Image")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from faltung import layers, models  # noqa: E402
from faltung.studio import imaging  # noqa: E402
from faltung.studio.app import create_app  # noqa: E402


def tiny_cnn(seed: int = 0) -> models.Model:
    from faltung.utils import set_random_seed
    set_random_seed(seed)
    return models.Sequential([
        layers.Input(shape=(28, 28, 1)),
        layers.Conv2D(3, (3, 3), activation="relu", name="conv"),
        layers.MaxPooling2D((2, 2), name="pool"),
        layers.Flatten(name="flat"),
        layers.Dropout(0.5, name="drop"),
        layers.Dense(8, activation="relu", name="hidden"),
        layers.Dense(10, activation="softmax", name="out"),
    ], name="tiny")


def fake_test_set() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = np.zeros((5, 28, 28), dtype=np.uint8)
    for i in range(5):
        x[i, 4 + i:24, 12:16] = 255
    x[4] = rng.integers(0, 256, (28, 28))
    return x, np.arange(5, dtype=np.uint8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("studio")
    allowed = root / "models"
    reports = root / "reports"
    outside = root / "outside"
    for folder in (allowed, reports, outside):
        folder.mkdir()
    tiny_cnn(1).save(str(allowed / "tiny.keras"))
    tiny_cnn(2).save(str(outside / "secret.keras"))
    (allowed / "broken.keras").write_bytes(b"not a zip file")
    (allowed / "notes.txt").write_text("hello")
    run = reports / "run-a"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps(
        {"title": "Run A", "test": {"net": {"accuracy": 0.9, "loss": 0.3}}}))
    (run / "history.csv").write_text("epoch,loss,val_loss\n1,1.5,1.6\n2,0.9,nan\n")
    (run / "summary.txt").write_text("a summary")
    buffer = io.BytesIO()
    PIL.new("L", (4, 4)).save(buffer, format="PNG")
    (run / "learning_curves.png").write_bytes(buffer.getvalue())
    (reports / "not-a-run").mkdir()
    return {"root": root, "allowed": allowed, "reports": reports, "outside": outside}


@pytest.fixture(scope="module")
def client(folders: dict) -> TestClient:
    app = create_app(tiny_cnn(0), folders=[folders["allowed"]], reports=folders["reports"],
                     dataset=fake_test_set, max_body=200_000)
    return TestClient(app)


def drawing(width: int = 100, height: int = 100) -> dict:
    """A '1': a vertical bar of white on black."""
    image = np.zeros((height, width), dtype=np.uint8)
    image[height // 5: 4 * height // 5, width // 2 - 4: width // 2 + 4] = 255
    return {"width": width, "height": height,
            "data": base64.b64encode(image.tobytes()).decode()}


def png_b64(array: np.ndarray, mode: str = "L") -> str:
    buffer = io.BytesIO()
    PIL.fromarray(array, mode=mode).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert isinstance(message, str) and message
    return message


# -- preprocessing --------------------------------------------------------------------------------

def test_mnist_preprocess_crops_scales_and_centres() -> None:
    image = np.zeros((200, 300), dtype="float32")
    image[10:110, 20:60] = 1.0  # 100 x 40 block in a corner
    out = imaging.mnist_preprocess(image)
    assert out.shape == (28, 28) and out.dtype == np.float32
    rows, cols = np.nonzero(out > 0.5)
    assert rows.max() - rows.min() + 1 == 20  # the long side scaled to 20
    assert 7 <= cols.max() - cols.min() + 1 <= 9  # aspect kept: 40/100 * 20 = 8
    total = out.sum()
    cy = (out.sum(axis=1) * np.arange(28)).sum() / total
    cx = (out.sum(axis=0) * np.arange(28)).sum() / total
    assert abs(cy - 13.5) <= 0.6 and abs(cx - 13.5) <= 0.6
    assert 0 <= out.min() and out.max() <= 1
    assert not imaging.mnist_preprocess(np.zeros((50, 50))).any()


def test_resize_keeps_the_mean_and_convolve_is_cross_correlation() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((30, 45)).astype("float32")
    assert imaging.resize(image, 10, 15).mean() == pytest.approx(image.mean(), rel=1e-5)
    assert imaging.resize(image, 60, 90).mean() == pytest.approx(image.mean(), rel=1e-5)
    kernel = imaging.CLASSIC_KERNELS["sobel_left"][1]
    out = imaging.convolve(image, kernel)
    i, j = 10, 20
    assert out[i, j] == pytest.approx((image[i - 1:i + 2, j - 1:j + 2] * kernel).sum(), rel=1e-5)
    identity = imaging.convolve(image, imaging.CLASSIC_KERNELS["identity"][1])
    np.testing.assert_allclose(identity, image)


def test_the_seminar_kernels() -> None:
    kernels = imaging.CLASSIC_KERNELS
    assert list(kernels) == ["identity", "sobel_left", "sobel_right", "edges", "blur", "sharpen"]
    assert kernels["blur"][1].sum() == pytest.approx(1.0)
    assert kernels["edges"][1].sum() == 0 and kernels["sharpen"][1].sum() == 1
    np.testing.assert_array_equal(kernels["sobel_right"][1], -kernels["sobel_left"][1])


# -- the endpoints --------------------------------------------------------------------------------

def test_pages_and_static_files(client: TestClient) -> None:
    assert client.get("/", follow_redirects=False).status_code in (302, 307)
    for page in ("draw", "inspect", "runs"):
        response = client.get(f"/{page}")
        assert response.status_code == 200 and "<canvas" in response.text or page == "runs"
        assert "faltung" in response.text and "http" not in response.text.split("<body")[0]
    for name in ("studio.css", "common.js", "draw.js", "inspect.js", "runs.js"):
        assert client.get(f"/static/{name}").status_code == 200


def test_info_models_and_layers(client: TestClient, folders: dict) -> None:
    info = client.get("/api/info").json()
    assert info["model"] == "default" and info["input_shape"] == [28, 28, 1]
    assert [k["id"] for k in info["kernels"]][:2] == ["identity", "sobel_left"]
    files = [f["path"] for f in client.get("/api/models").json()["files"]]
    assert any(f.endswith("tiny.keras") for f in files)
    assert not any("secret" in f or f.endswith(".txt") for f in files)
    described = client.get("/api/layers").json()["layers"]
    assert [row["name"] for row in described] == ["conv", "pool", "flat", "drop", "hidden", "out"]
    assert described[0]["kind"] == "maps" and described[0]["shape"] == [None, 26, 26, 3]
    assert described[0]["params"] == 3 * 3 * 3 + 3
    assert described[-1]["kind"] == "vector"


def test_predict_a_drawing_with_every_layer(client: TestClient) -> None:
    response = client.post("/api/predict", json={"drawing": drawing()})
    assert response.status_code == 200, response.text
    answer = response.json()
    p = np.array(answer["probabilities"])
    assert p.shape == (10,) and p.sum() == pytest.approx(1, abs=1e-3)
    assert answer["prediction"] == int(np.argmax(p))
    seen = np.frombuffer(base64.b64decode(answer["input"]["data"]), np.uint8).reshape(28, 28)
    rows, _ = np.nonzero(seen > 128)
    assert rows.max() - rows.min() + 1 >= 18  # scaled to 20 rows as MNIST
    by_name = {layer["name"]: layer for layer in answer["layers"]}
    assert list(by_name) == ["conv", "pool", "flat", "drop", "hidden", "out"]
    maps = by_name["conv"]["maps"]
    assert (maps["count"], maps["height"], maps["width"]) == (3, 26, 26)
    assert len(base64.b64decode(maps["data"])) == 3 * 26 * 26
    assert by_name["drop"]["kind"] == "passthrough" and "values" not in by_name["drop"]
    assert len(by_name["hidden"]["values"]) == 8
    np.testing.assert_allclose(by_name["out"]["values"], p, atol=1e-3)
    # the activations are the model's: the same input through the model gives the same output
    model = client.app.state.studio.registry.get(None).model
    x = seen.astype("float32")[None, :, :, None] / 255
    np.testing.assert_allclose(model.predict(x, verbose=0)[0], p, atol=0.02)
    assert len(response.content) < 40_000  # compact: uint8 tiles, rounded values


def test_predict_test_image_upload_and_chosen_layers(client: TestClient) -> None:
    answer = client.post("/api/predict", json={"test_index": 2, "layers": ["pool"]}).json()
    assert answer["label"] == 2 and [entry["name"] for entry in answer["layers"]] == ["pool"]
    x, _ = fake_test_set()
    seen = np.frombuffer(base64.b64decode(answer["input"]["data"]), np.uint8).reshape(28, 28)
    np.testing.assert_array_equal(seen, x[2])  # test images are fed as they are
    # an uploaded photo of a dark digit on white paper is inverted and centred
    paper = np.full((60, 40), 255, dtype=np.uint8)
    paper[10:50, 18:23] = 0
    answer = client.post("/api/predict", json={"image": png_b64(paper), "layers": "none"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["layers"] == []
    rgb = np.zeros((30, 30, 3), dtype=np.uint8)
    rgb[5:25, 12:18] = (255, 200, 0)
    assert client.post("/api/predict", json={"image": png_b64(rgb, "RGB"),
                                             "preprocess": "resize"}).status_code == 200


def test_dataset_filters_and_kernels(client: TestClient) -> None:
    d = client.get("/api/dataset?index=3").json()
    assert d["label"] == 3 and d["count"] == 5 and (d["height"], d["width"]) == (28, 28)
    f = client.get("/api/filters").json()
    assert f["layer"] == "conv" and (f["count"], f["height"], f["width"]) == (3, 3, 3)
    assert len(base64.b64decode(f["data"])) == 3 * 3 * 3
    kernel = client.app.state.studio.registry.get(None).model.get_layer("conv").weights[0]
    weights = np.asarray(kernel.numpy())
    np.testing.assert_allclose(f["values"][1], weights[:, :, 0, 1], atol=1e-3)
    k = client.post("/api/kernels", json={"test_index": 0}).json()["kernels"]
    assert [entry["id"] for entry in k] == list(imaging.CLASSIC_KERNELS)
    identity = np.frombuffer(base64.b64decode(k[0]["data"]), np.uint8).reshape(28, 28)
    x, _ = fake_test_set()
    np.testing.assert_array_equal(identity > 127, x[0] > 127)
    assert k[1]["min"] < 0 < k[1]["max"]  # Sobel answers both signs at a vertical bar


def test_open_a_model_file_from_an_allowed_folder(client: TestClient, folders: dict) -> None:
    layers_of = client.get("/api/layers?model=tiny.keras")
    assert layers_of.status_code == 200, layers_of.text
    answer = client.post("/api/predict", json={"model": "tiny.keras", "drawing": drawing()})
    assert answer.status_code == 200
    assert answer.json()["model"].endswith("tiny.keras")
    default = client.post("/api/predict", json={"drawing": drawing()}).json()
    assert default["probabilities"] != answer.json()["probabilities"]  # other weights
    absolute = str(folders["allowed"] / "tiny.keras")
    assert client.get("/api/filters", params={"model": absolute}).status_code == 200


def test_runs(client: TestClient) -> None:
    runs = client.get("/api/runs").json()["runs"]
    assert [run["name"] for run in runs] == ["run-a"]
    assert runs[0]["title"] == "Run A" and runs[0]["test"]["net"]["accuracy"] == 0.9
    details = client.get("/api/runs/run-a").json()
    assert details["history"]["loss"] == [1.5, 0.9] and details["history"]["val_loss"][1] is None
    assert details["images"] == ["learning_curves.png"] and details["summary"] == "a summary"
    png = client.get("/api/runs/run-a/files/learning_curves.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_predict_is_thread_safe(client: TestClient) -> None:
    body = {"drawing": drawing(), "layers": ["out"]}
    expected = client.post("/api/predict", json=body).json()["probabilities"]
    results, errors = [], []

    def worker() -> None:
        try:
            for _ in range(5):
                results.append(client.post("/api/predict", json=body).json()["probabilities"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 30
    assert all(r == expected for r in results)


# -- bad input: 4xx with a message, never a 500 ----------------------------------------------------

def test_oversized_and_malformed_bodies(client: TestClient) -> None:
    big = {"image": "A" * 300_000}
    assert "too large" in error_of(client.post("/api/predict", json=big), 413)
    chunked = client.post("/api/predict", content=iter([b"{" + b" " * 150_000, b" " * 150_000]))
    assert "too large" in error_of(chunked, 413)
    assert "JSON" in error_of(client.post("/api/predict", content=b"{not json"), 400)
    assert "object" in error_of(client.post("/api/predict", json=[1, 2]), 400)
    assert "exactly one" in error_of(client.post("/api/predict", json={}), 400)
    assert "exactly one" in error_of(
        client.post("/api/predict", json={"test_index": 1, "drawing": drawing()}), 400)
    bad = dict(drawing(), width=99)
    assert "bytes" in error_of(client.post("/api/predict", json={"drawing": bad}), 422)
    assert "base64" in error_of(client.post(
        "/api/predict", json={"drawing": dict(drawing(), data="!!not base64!!")}), 422)
    huge = {"width": 5000, "height": 5000, "data": ""}
    assert "at most" in error_of(client.post("/api/predict", json={"drawing": huge}), 422)
    assert "positive" in error_of(client.post(
        "/api/predict", json={"drawing": dict(drawing(), width="100")}), 422)
    assert "drawing must" in error_of(client.post("/api/predict", json={"drawing": [1]}), 400)
    assert "preprocess" in error_of(client.post(
        "/api/predict", json={"drawing": drawing(), "preprocess": "magic"}), 400)
    assert "max_maps" in error_of(client.post(
        "/api/predict", json={"drawing": drawing(), "max_maps": 0}), 400)
    assert "layers must" in error_of(client.post(
        "/api/predict", json={"drawing": drawing(), "layers": 3}), 400)


def test_non_image_files(client: TestClient) -> None:
    text = base64.b64encode(b"%PDF-1.4 this is not an image").decode()
    assert "not an image" in error_of(client.post("/api/predict", json={"image": text}), 422)
    assert "empty" in error_of(client.post("/api/predict", json={"image": ""}), 422)
    buffer = io.BytesIO()
    PIL.new("L", (20, 20)).save(buffer, format="PNG")
    truncated = base64.b64encode(buffer.getvalue()[:40]).decode()
    assert "not an image" in error_of(client.post("/api/predict", json={"image": truncated}), 422)
    assert "base64 string" in error_of(client.post("/api/kernels", json={"image": 5}), 422)


def test_model_paths_outside_the_allowed_folders(client: TestClient, folders: dict) -> None:
    secret = folders["outside"] / "secret.keras"
    for path in (str(secret), "../outside/secret.keras", "/etc/passwd"):
        message = error_of(client.get("/api/layers", params={"model": path}), 403)
        assert "outside" in message
        error_of(client.post("/api/predict", json={"model": path, "test_index": 0}), 403)
    assert "only .keras" in error_of(client.get("/api/layers?model=notes.txt"), 400)
    assert "no such" in error_of(client.get("/api/layers?model=missing.keras"), 404)
    assert "cannot load" in error_of(client.get("/api/layers?model=broken.keras"), 422)
    assert "path" in error_of(client.post("/api/predict", json={"model": 5, "test_index": 0}),
                              400)


def test_unknown_layers_runs_and_indices(client: TestClient) -> None:
    message = error_of(client.post("/api/predict",
                                   json={"drawing": drawing(), "layers": ["conv", "nope"]}), 404)
    assert "'nope'" in message and "conv" in message
    assert "unknown layer" in error_of(client.get("/api/filters?layer=nope"), 404)
    assert "not a Conv2D" in error_of(client.get("/api/filters?layer=hidden"), 422)
    assert "0..4" in error_of(client.post("/api/predict", json={"test_index": 99}), 404)
    assert "integer" in error_of(client.post("/api/predict", json={"test_index": "1"}), 400)
    assert "integer" in error_of(client.get("/api/dataset?index=-1"), 400)
    error_of(client.get("/api/dataset?index=7"), 404)
    for name in ("nope", "not-a-run", "..", "%2e%2e"):
        assert client.get(f"/api/runs/{name}").status_code == 404
    error_of(client.get("/api/runs/run-a/files/summary.txt"), 404)
    error_of(client.get("/api/runs/run-a/files/..%2Fmetrics.json"), 404)
    assert client.get("/api/nothing").status_code == 404
    assert client.get("/api/predict").status_code == 405


def test_without_a_test_set_or_a_model(folders: dict) -> None:
    def missing() -> tuple[np.ndarray, np.ndarray]:
        raise FileNotFoundError("mnist.npz not found")

    client = TestClient(create_app(None, folders=[folders["allowed"]], dataset=missing))
    assert "FALTUNG_DATA" in error_of(client.get("/api/dataset?index=0"), 404)
    assert "no model" in error_of(client.get("/api/layers"), 404)
    assert client.get("/api/runs").json() == {"runs": []}
    assert client.get("/api/info").json()["model"] is None
    assert client.post("/api/predict", json={"model": "tiny.keras", "drawing": drawing()}) \
        .status_code == 200


def test_dense_model_on_flat_images_and_rgb_models() -> None:
    mlp = models.Sequential([layers.Input(shape=(784,)), layers.Dense(4, activation="relu"),
                             layers.Dense(10, activation="softmax")])
    client = TestClient(create_app(mlp, dataset=fake_test_set))
    assert client.get("/api/info").json()["input_shape"] == [28, 28, 1]
    answer = client.post("/api/predict", json={"test_index": 1})
    assert answer.status_code == 200 and answer.json()["label"] == 1
    assert "no Conv2D" in error_of(client.get("/api/filters"), 404)
    rgb = models.Sequential([layers.Input(shape=(8, 8, 3)), layers.Conv2D(2, 3, name="c"),
                             layers.Flatten(), layers.Dense(3, activation="softmax")])
    client = TestClient(create_app(rgb, dataset=fake_test_set))
    answer = client.post("/api/predict", json={"drawing": drawing()}).json()
    assert answer["input"]["channels"] == 3 and len(answer["probabilities"]) == 3
    f = client.get("/api/filters").json()
    assert f["channels"] == 3 and len(base64.b64decode(f["data"])) == 2 * 3 * 3 * 3
    sequence = models.Sequential([layers.Input(shape=(5, 4, 3, 2)), layers.Flatten(),
                                  layers.Dense(2)])
    with pytest.raises(Exception, match="image models"):
        create_app(sequence)


def test_cli_studio_arguments(capsys: pytest.CaptureFixture) -> None:
    from faltung.cli import main
    assert main(["studio", "--port", "0"]) == 2
    assert "--port" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["studio", "--help"])
    assert "lenet5" in capsys.readouterr().out
