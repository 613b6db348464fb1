"""Smoke test of an installed faltung (wheel with the lab and studio extras), run by
.ci/smoke_wheel.sh with the fresh environment's Python from a folder outside the checkout.

Checks what a user sees first: ``import faltung`` (from site-packages, no optional library
imported), ``faltung --version``, ``faltung lab list``, a short ``faltung lab and-neuron``, and
``faltung studio`` on a free port answering 200 for its pages and every static file they load.
Standard library only, apart from faltung itself."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

#: libraries of the extras (and the test oracles): ``import faltung`` must load none of them
OPTIONAL = ("matplotlib", "PIL", "starlette", "uvicorn", "httpx", "tqdm", "onnx", "onnxruntime",
            "scipy", "sklearn", "torch", "tensorflow", "keras")
PAGES = ("/draw", "/inspect", "/runs")
BIN = Path(sys.executable).parent
FALTUNG = str(BIN / "faltung")


def step(message: str) -> None:
    print(f"smoke: {message}", flush=True)


def fail(message: str) -> None:
    print(f"smoke: FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(args: list[str], timeout: float = 300) -> str:
    """Run a command, fail with its output unless it exits 0; returns its stdout."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        fail(f"{' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def check_import() -> str:
    """``import faltung`` in a fresh interpreter: from this environment, no optional imports."""
    code = ("import json, sys; import faltung; "
            f"print(json.dumps({{'file': faltung.__file__, 'loaded': sorted(m for m in {OPTIONAL!r}"
            " if m in sys.modules), 'version': faltung.__version__}))")
    info = json.loads(run([sys.executable, "-c", code]))
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    if not Path(info["file"]).resolve().is_relative_to(site):
        fail(f"faltung was imported from {info['file']}, not from the installed wheel in {site}")
    if info["loaded"]:
        fail(f"import faltung imported optional libraries: {', '.join(info['loaded'])}")
    from importlib.metadata import version
    if info["version"] != version("faltung"):
        fail(f"faltung.__version__ is {info['version']!r}, the metadata says "
             f"{version('faltung')!r}")
    printed = run([FALTUNG, "--version"]).strip()
    if printed != f"faltung {info['version']}":
        fail(f"faltung --version printed {printed!r}, expected 'faltung {info['version']}'")
    step(f"import faltung {info['version']} from {info['file']}; no optional imports; "
         f"'{printed}'")
    return info["version"]


def check_labs(reports: Path) -> None:
    listing = run([FALTUNG, "lab", "list"])
    if not re.search(r"^and-neuron\s", listing, re.M):
        fail(f"faltung lab list does not list and-neuron:\n{listing}")
    step(f"faltung lab list: {len(listing.splitlines())} labs")
    run([FALTUNG, "lab", "and-neuron", "--epochs", "2", "--quiet", "--out", str(reports)])
    folder = reports / "and-neuron"
    for name in ("report.html", "metrics.json", "history.csv", "summary.txt"):
        if not (folder / name).is_file():
            fail(f"faltung lab and-neuron wrote no {name} in {folder}")
    step(f"faltung lab and-neuron --epochs 2: report in {folder}")


def tiny_image_model(path: Path) -> None:
    """A small untrained CNN on 28x28x1 images, saved as .keras: enough for the studio."""
    code = ("import sys; import faltung as keras; "
            "m = keras.Sequential([keras.layers.Input((28, 28, 1)), "
            "keras.layers.Conv2D(2, 3, activation='relu'), keras.layers.MaxPooling2D(), "
            "keras.layers.Flatten(), keras.layers.Dense(10, activation='softmax')]); "
            "m.save(sys.argv[1])")
    run([sys.executable, "-c", code, str(path)])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def check_studio(model: Path, reports: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open("studio.log", "w+")  # noqa: SIM115 (read back below)
    server = subprocess.Popen([FALTUNG, "studio", str(model), "--port", str(port),
                               "--reports", str(reports)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                log.seek(0)
                fail(f"faltung studio exited {server.returncode} at start-up:\n{log.read()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    fail("faltung studio did not listen within 90 s")
                time.sleep(0.3)
        static: set[str] = set()
        for page in PAGES:
            status, body = get(base + page)
            if status != 200:
                fail(f"GET {page}: {status} {body[:300]!r}")
            found = re.findall(r'(?:src|href)="(/static/[^"]+)"', body.decode())
            if not found:
                fail(f"GET {page}: the page loads no /static/ file; did it change?")
            static.update(found)
        for path in sorted(static):
            status, body = get(base + path)
            if status != 200 or not body:
                fail(f"GET {path}: {status}, {len(body)} bytes")
        status, body = get(base + "/api/runs")
        runs = [r["name"] for r in json.loads(body)["runs"]] if status == 200 else []
        if "and-neuron" not in runs:
            fail(f"GET /api/runs: {status}, runs {runs}; expected and-neuron")
        step(f"faltung studio on port {port}: 200 for {', '.join(PAGES)}, "
             f"{', '.join(sorted(static))} and /api/runs")
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C, as a user stops it
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            fail("faltung studio did not stop within 30 s of Ctrl-C")
    if server.returncode != 0:
        log.seek(0)
        fail(f"faltung studio exited {server.returncode} after Ctrl-C:\n{log.read()}")
    step("faltung studio stopped by Ctrl-C")


def main() -> None:
    here = Path.cwd()
    checkout = Path(__file__).resolve().parent.parent
    if here.resolve().is_relative_to(checkout):
        fail(f"run me from a folder outside the checkout, not {here}")
    os.environ.pop("PYTHONPATH", None)
    check_import()
    reports = here / "lab-reports"
    check_labs(reports)
    model = here / "tiny_cnn.keras"
    tiny_image_model(model)
    check_studio(model, reports)
    step("all good")


if __name__ == "__main__":
    main()
