"""The studio's Starlette app: static pages (Draw, Inspect, Runs) and the JSON API behind them
(documented in faltung/studio/API.md). Every bad input is answered 4xx with ``{"error": ...}``."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faltung.studio import imaging
from faltung.studio.imaging import ImageError
from faltung.studio.registry import LoadedModel, ModelRegistry, StudioError

STATIC = Path(__file__).parent / "static"
#: identity layers at inference: the pages say so instead of drawing the same numbers again
PASSTHROUGH = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
               "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"}
_RUN_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,120}\.png$")
_RUN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,120}$")

TestSet = tuple[np.ndarray, np.ndarray]


def _mnist_test_set() -> TestSet:
    from faltung.datasets import mnist
    _, (x_test, y_test) = mnist.load_data()
    return x_test, y_test


class Studio:
    """The state behind the app: the models, the test set, the reports folder and limits."""

    def __init__(self, registry: ModelRegistry, reports: str | os.PathLike | None,
                 dataset: Callable[[], TestSet] | None, max_body: int,
                 max_image_pixels: int, max_drawing_pixels: int) -> None:
        self.registry = registry
        self.reports = Path(reports).resolve() if reports is not None else None
        self._dataset_fn = dataset
        self._dataset: TestSet | None = None
        self._dataset_error: str | None = None
        self._dataset_lock = threading.Lock()
        self.max_body = max_body
        self.max_image_pixels = max_image_pixels
        self.max_drawing_pixels = max_drawing_pixels
        self._plots: dict[tuple[Any, ...], bytes] = {}
        self._plots_lock = threading.Lock()

    # -- inputs ---------------------------------------------------------------------------------

    def test_set(self) -> TestSet:
        """The dataset's test images and labels, loaded on first use."""
        if self._dataset_fn is None:
            raise StudioError("this studio has no test set", 404)
        with self._dataset_lock:
            if self._dataset is None and self._dataset_error is None:
                try:
                    x, y = self._dataset_fn()
                    self._dataset = (np.asarray(x), np.asarray(y))
                except Exception as exc:  # missing files, no network: say so, once
                    self._dataset_error = (f"the test set is not available ({exc}); set "
                                           "FALTUNG_DATA to a folder holding mnist.npz")
        if self._dataset is None:
            raise StudioError(self._dataset_error or "no test set", 404)
        return self._dataset

    def test_image(self, index: Any) -> tuple[np.ndarray, int]:
        """Test image ``index`` as a float array 0..1 and its label."""
        x, y = self.test_set()
        if isinstance(index, bool) or not isinstance(index, int):
            raise StudioError("test_index must be an integer")
        if not 0 <= index < len(x):
            raise StudioError(f"test_index must be in 0..{len(x) - 1}, got {index}", 404)
        image = np.asarray(x[index], dtype="float32")
        if image.max() > 1.5:
            image = image / 255
        return image, int(np.asarray(y[index]).reshape(-1)[0])

    def model_input(self, body: dict[str, Any], loaded: LoadedModel) -> tuple[np.ndarray, Any]:
        """The (h, w, c) input for ``loaded`` from a drawing, an image file or a test index;
        also the test label (or None)."""
        sources = [k for k in ("drawing", "image", "test_index") if k in body]
        if len(sources) != 1:
            raise StudioError("send exactly one of 'drawing', 'image' (base64 file) or "
                              "'test_index'")
        preprocess = body.get("preprocess", "mnist")
        if preprocess not in ("mnist", "resize"):
            raise StudioError("preprocess must be 'mnist' or 'resize'")
        label = None
        if sources[0] == "drawing":
            d = body["drawing"]
            if not isinstance(d, dict):
                raise StudioError("drawing must be an object {width, height, data}")
            image = imaging.decode_drawing(d.get("data"), d.get("width"), d.get("height"),
                                           self.max_drawing_pixels)
            x = imaging.fit_to_input(image, loaded.input_shape, preprocess == "mnist")
        elif sources[0] == "image":
            raw = imaging.b64decode(body["image"], "image")
            image = imaging.decode_image_file(raw, self.max_image_pixels)
            x = imaging.fit_to_input(image, loaded.input_shape, preprocess == "mnist")
        else:
            image, label = self.test_image(body["test_index"])
            shape = loaded.input_shape
            if image.ndim == 2 and shape == (image.shape[0], image.shape[1], 1):
                x = image[..., None]
            else:
                x = imaging.fit_to_input(image, shape, False)
        return x, label

    # -- answers --------------------------------------------------------------------------------

    def predict(self, body: dict[str, Any]) -> dict[str, Any]:
        """Probabilities and the activations of the chosen layers (see API.md)."""
        start = time.perf_counter()
        loaded = self.registry.get(body.get("model"))
        wanted = body.get("layers", "all")
        if wanted == "all":
            names = set(loaded.names)
        elif wanted == "none":
            names = set()
        elif isinstance(wanted, list) and all(isinstance(n, str) for n in wanted):
            unknown = [n for n in wanted if n not in loaded.names]
            if unknown:
                raise StudioError(f"unknown layer(s) {', '.join(map(repr, unknown))}; the "
                                  f"layers are: {', '.join(loaded.names)}", 404)
            names = set(wanted)
        else:
            raise StudioError("layers must be 'all', 'none' or a list of layer names")
        max_maps = body.get("max_maps", 32)
        if isinstance(max_maps, bool) or not isinstance(max_maps, int) or \
                not 1 <= max_maps <= 256:
            raise StudioError("max_maps must be an integer in 1..256")
        x, label = self.model_input(body, loaded)
        outputs = loaded.forward(x)
        final = outputs[-1].reshape(-1).astype("float64")
        probabilities = final if _is_distribution(final) else _softmax(final)
        layers = []
        for layer, out in zip(loaded.layers, outputs):
            if layer.name not in names:
                continue
            entry: dict[str, Any] = {"name": layer.name, "class": type(layer).__name__,
                                     "shape": list(out.shape)}
            if type(layer).__name__ in PASSTHROUGH:
                entry["kind"] = "passthrough"
            elif out.ndim == 3:
                entry["kind"] = "maps"
                entry["maps"] = imaging.encode_maps(out, max_maps, 64)
            elif out.ndim == 1:
                entry["kind"] = "vector"
                shown = out[:512]
                entry["values"] = np.round(shown.astype("float64"), 4).tolist()
                entry["total"] = int(out.size)
            else:
                entry["kind"] = "other"
            layers.append(entry)
        h, w, c = loaded.input_shape
        answer = {
            "model": loaded.key,
            "prediction": int(np.argmax(probabilities)),
            "probabilities": np.round(probabilities, 5).tolist(),
            "input": {"height": h, "width": w, "channels": c,
                      "data": imaging.b64(imaging.to_uint8(x, 0.0, 1.0))},
            "layers": layers,
        }
        if label is not None:
            answer["label"] = label
        answer["ms"] = round((time.perf_counter() - start) * 1000, 2)
        return answer

    def kernels(self, body: dict[str, Any]) -> dict[str, Any]:
        """The seminar's classic kernels applied to the image as the model sees it."""
        loaded = self.registry.get(body.get("model"))
        x, _ = self.model_input(body, loaded)
        gray = x.mean(axis=2)
        results = []
        for key, (title, kernel) in imaging.CLASSIC_KERNELS.items():
            out = imaging.convolve(gray, kernel)
            lo, hi = float(out.min()), float(out.max())
            results.append({"id": key, "name": title, "kernel": kernel.round(4).tolist(),
                            "min": round(lo, 4), "max": round(hi, 4),
                            "height": int(out.shape[0]), "width": int(out.shape[1]),
                            "data": imaging.b64(imaging.to_uint8(out))})
        return {"model": loaded.key, "kernels": results}

    def filters(self, model: str | None, layer: str | None) -> dict[str, Any]:
        """The learned kernels of a Conv2D layer (default: the first), one tile per filter."""
        loaded = self.registry.get(model)
        convs = [lay for lay in loaded.layers if type(lay).__name__ == "Conv2D"]
        if layer is not None:
            chosen = [lay for lay in loaded.layers if lay.name == layer]
            if not chosen:
                raise StudioError(f"unknown layer {layer!r}; the layers are: "
                                  f"{', '.join(loaded.names)}", 404)
            if chosen[0] not in convs:
                raise StudioError(f"layer {layer!r} is a {type(chosen[0]).__name__}, not a "
                                  "Conv2D: only Conv2D layers have 2-D filters to show", 422)
            conv = chosen[0]
        elif convs:
            conv = convs[0]
        else:
            raise StudioError(f"{loaded.key} has no Conv2D layer", 404)
        kernel = np.asarray(conv.weights[0].numpy() if hasattr(conv.weights[0], "numpy")
                            else conv.weights[0], dtype="float32")
        kh, kw, cin, cout = kernel.shape
        tiles = np.moveaxis(kernel, 3, 0)  # cout, kh, kw, cin
        if cin != 3:
            tiles = tiles.mean(axis=3, keepdims=True)
        channels = tiles.shape[3]
        limit = min(cout, 128)
        flat = tiles[:limit].reshape(limit, -1)
        scale = np.abs(flat).max(axis=1, keepdims=True)
        scale = np.where(scale < 1e-12, 1.0, scale)
        data = np.clip((flat / scale + 1) * 127.5, 0, 255).astype(np.uint8)
        answer: dict[str, Any] = {
            "model": loaded.key, "layer": conv.name, "count": int(limit), "total": int(cout),
            "height": int(kh), "width": int(kw), "channels": int(channels),
            "in_channels": int(cin), "data": imaging.b64(data),
            "scale": "each filter: -max|w| black, 0 grey, +max|w| white"}
        if channels == 1 and kh * kw <= 49:
            answer["values"] = tiles[:limit, :, :, 0].round(3).tolist()
        return answer

    def plot(self, model: str | None, show_shapes: bool, expand_nested: bool) -> bytes:
        """The model's picture as ``keras.utils.plot_model`` draws it, as SVG (cached)."""
        from faltung.utils import model_visualization as plotting
        loaded = self.registry.get(model)
        key = (loaded.key, id(loaded.model), show_shapes, expand_nested)
        with self._plots_lock:
            if key in self._plots:
                return self._plots[key]
        if not plotting.check_graphviz():
            raise StudioError("drawing the model needs pydot (pip install 'faltung[plot]') and "
                              "Graphviz's dot program (Debian's graphviz package)", 501)
        try:
            svg = plotting.model_to_svg(loaded.model, show_shapes=show_shapes,
                                        show_layer_names=True, expand_nested=expand_nested,
                                        dpi=72).encode("utf-8")
        except (ValueError, OSError) as exc:  # an unbuilt model, or dot refused the graph
            raise StudioError(f"{loaded.key} cannot be drawn: {exc}", 422) from None
        with self._plots_lock:
            if len(self._plots) >= 32:
                self._plots.clear()
            self._plots[key] = svg
        return svg

    # -- runs -----------------------------------------------------------------------------------

    def runs(self) -> list[dict[str, Any]]:
        """The lab reports under the reports folder (folders with metrics.json/history.csv)."""
        if self.reports is None or not self.reports.is_dir():
            return []
        found = []
        for folder in sorted(self.reports.iterdir()):
            if not folder.is_dir() or not _RUN_NAME.match(folder.name):
                continue
            if not ((folder / "metrics.json").is_file() or (folder / "history.csv").is_file()):
                continue
            metrics = _read_json(folder / "metrics.json")
            found.append({"name": folder.name, "title": metrics.get("title", folder.name),
                          "test": metrics.get("test", {}),
                          "modified": round((folder / "metrics.json").stat().st_mtime
                                            if (folder / "metrics.json").is_file() else 0)})
        return found

    def run_folder(self, name: str) -> Path:
        """The folder of run ``name``, which must be directly under the reports folder."""
        if self.reports is None or not _RUN_NAME.match(name):
            raise StudioError(f"no run {name!r}", 404)
        folder = (self.reports / name).resolve()
        if folder.parent != self.reports or not folder.is_dir() or not (
                (folder / "metrics.json").is_file() or (folder / "history.csv").is_file()):
            raise StudioError(f"no run {name!r} (a folder with metrics.json or history.csv)",
                              404)
        return folder

    def run_details(self, name: str) -> dict[str, Any]:
        """metrics.json, history.csv as columns, summary.txt and the PNG files of a run."""
        folder = self.run_folder(name)
        history: dict[str, list[Any]] = {}
        if (folder / "history.csv").is_file():
            with open(folder / "history.csv", newline="") as f:
                for row in csv.DictReader(f):
                    for key, value in row.items():
                        if key is None:
                            continue
                        history.setdefault(key, []).append(_number(value))
        summary = (folder / "summary.txt").read_text(errors="replace")[:20000] \
            if (folder / "summary.txt").is_file() else ""
        images = sorted(p.name for p in folder.glob("*.png") if _RUN_FILE.match(p.name))
        return {"name": name, "metrics": _read_json(folder / "metrics.json"),
                "history": history, "summary": summary, "images": images,
                "has_model": (folder / "model.keras").is_file()}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _number(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else None


def _is_distribution(values: np.ndarray) -> bool:
    return bool(values.size) and values.min() >= 0 and abs(values.sum() - 1) < 1e-3


def _softmax(values: np.ndarray) -> np.ndarray:
    if values.size == 1:  # a sigmoid unit: p(class 1)
        p = 1 / (1 + np.exp(-values[0])) if not 0 <= values[0] <= 1 else values[0]
        return np.array([1 - p, p])
    e = np.exp(values - values.max())
    return e / e.sum()


# -- the Starlette app ----------------------------------------------------------------------------

def create_app(model: Any = None, *, folders: Sequence[str | os.PathLike] = (),
               reports: str | os.PathLike | None = None,
               dataset: Callable[[], TestSet] | None = _mnist_test_set,
               max_body: int = 4 * 1024 * 1024, max_image_pixels: int = 4096 * 4096,
               max_drawing_pixels: int = 640 * 640) -> Any:
    """The studio as an ASGI app. ``model``: a faltung model or a path under ``folders`` (the
    default model); ``folders``: where models may be opened from (``reports`` is added);
    ``reports``: the lab reports folder (Runs page); ``dataset``: returns the test images and
    labels for the Inspect page."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    allowed = [Path(f) for f in folders]
    if reports is not None:
        allowed.append(Path(reports))
    registry = ModelRegistry(allowed)
    if model is not None:
        if isinstance(model, (str, os.PathLike)):
            path = Path(model).resolve()
            if not any(path.is_relative_to(f) for f in registry.folders):
                registry.folders.append(path.parent)
            registry.default = str(path)
            registry.get(str(path))
        else:
            registry.add("default", model, default=True)
    studio = Studio(registry, reports, dataset, max_body, max_image_pixels, max_drawing_pixels)

    async def read_json(request: Request) -> dict[str, Any]:
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise StudioError("bad Content-Length header")
            if int(length) > studio.max_body:
                raise StudioError(f"request body too large: {int(length)} bytes, the limit is "
                                  f"{studio.max_body}", 413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > studio.max_body:
                raise StudioError(f"request body too large: the limit is {studio.max_body} "
                                  "bytes", 413)
            chunks.append(chunk)
        try:
            body = json.loads(b"".join(chunks))
        except (ValueError, UnicodeDecodeError) as exc:
            raise StudioError(f"the body must be JSON: {exc}") from None
        if not isinstance(body, dict):
            raise StudioError("the body must be a JSON object")
        return body

    def query(request: Request, name: str) -> str | None:
        value = request.query_params.get(name)
        return value if value else None

    async def predict(request: Request) -> Response:
        body = await read_json(request)
        return JSONResponse(await run_in_threadpool(studio.predict, body))

    async def kernels(request: Request) -> Response:
        body = await read_json(request)
        return JSONResponse(await run_in_threadpool(studio.kernels, body))

    async def info(request: Request) -> Response:
        loaded = await run_in_threadpool(registry.get, None) if registry.default else None
        return JSONResponse({
            "model": loaded.key if loaded else None,
            "model_name": getattr(loaded.model, "name", None) if loaded else None,
            "input_shape": list(loaded.input_shape) if loaded else None,
            "folders": [str(f) for f in registry.folders],
            "reports": str(studio.reports) if studio.reports else None,
            "kernels": [{"id": k, "name": v[0]} for k, v in imaging.CLASSIC_KERNELS.items()],
            "limits": {"max_body": studio.max_body, "max_image_pixels": studio.max_image_pixels,
                       "max_drawing_pixels": studio.max_drawing_pixels}})

    async def models(request: Request) -> Response:
        files = await run_in_threadpool(registry.available)
        return JSONResponse({"default": registry.default, "files": files,
                             "folders": [str(f) for f in registry.folders]})

    async def layers(request: Request) -> Response:
        loaded = await run_in_threadpool(registry.get, query(request, "model"))
        return JSONResponse({"model": loaded.key, "input_shape": list(loaded.input_shape),
                             "layers": loaded.describe()})

    async def filters(request: Request) -> Response:
        answer = await run_in_threadpool(studio.filters, query(request, "model"),
                                         query(request, "layer"))
        return JSONResponse(answer)

    def flag(request: Request, name: str) -> bool:
        value = request.query_params.get(name, "0")
        if value not in ("0", "1", "true", "false"):
            raise StudioError(f"{name} must be 0, 1, true or false, got {value!r}")
        return value in ("1", "true")

    async def plot(request: Request) -> Response:
        svg = await run_in_threadpool(studio.plot, query(request, "model"),
                                      flag(request, "show_shapes"),
                                      flag(request, "expand_nested"))
        # shown in an <img>; the header keeps any script in it from running if opened directly
        return Response(svg, media_type="image/svg+xml",
                        headers={"Content-Security-Policy": "default-src 'none'; "
                                                            "style-src 'unsafe-inline'"})

    async def dataset_image(request: Request) -> Response:
        raw = request.query_params.get("index", "0")
        if not re.fullmatch(r"\d{1,9}", raw):
            raise StudioError("index must be a non-negative integer")
        image, label = await run_in_threadpool(studio.test_image, int(raw))
        gray = image if image.ndim == 2 else image.mean(axis=2)
        count = len(studio.test_set()[0])
        return JSONResponse({"index": int(raw), "label": label, "count": count,
                             "height": int(gray.shape[0]), "width": int(gray.shape[1]),
                             "data": imaging.b64(imaging.to_uint8(gray, 0.0, 1.0))})

    async def runs(request: Request) -> Response:
        return JSONResponse({"runs": await run_in_threadpool(studio.runs)})

    async def run_details(request: Request) -> Response:
        name = request.path_params["name"]
        return JSONResponse(await run_in_threadpool(studio.run_details, name))

    async def run_file(request: Request) -> Response:
        folder = studio.run_folder(request.path_params["name"])
        file = request.path_params["file"]
        if not _RUN_FILE.match(file) or not (folder / file).is_file():
            raise StudioError(f"no image {file!r} in run {folder.name!r}", 404)
        return FileResponse(folder / file, media_type="image/png")

    def page(name: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return FileResponse(STATIC / f"{name}.html", media_type="text/html")
        return endpoint

    async def home(request: Request) -> Response:
        return RedirectResponse("/draw")

    async def studio_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StudioError)
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    async def image_error(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=422)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    async def internal_error(request: Request, exc: Exception) -> Response:
        # a bug, not bad input: still a JSON answer with the reason rather than a bare 500 page
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"},
                            status_code=500)

    routes = [
        Route("/", home),
        Route("/draw", page("draw")),
        Route("/inspect", page("inspect")),
        Route("/runs", page("runs")),
        Route("/api/info", info),
        Route("/api/models", models),
        Route("/api/layers", layers),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/api/kernels", kernels, methods=["POST"]),
        Route("/api/filters", filters),
        Route("/api/plot", plot),
        Route("/api/dataset", dataset_image),
        Route("/api/runs", runs),
        Route("/api/runs/{name}", run_details),
        Route("/api/runs/{name}/files/{file}", run_file),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={
        StudioError: studio_error, ImageError: image_error, HTTPException: http_error,
        Exception: internal_error})
    app.state.studio = studio
    return app

