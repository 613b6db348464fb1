"""Load test of faltung studio (loopback only, bounded, stops itself).

Starts uvicorn with the studio on a free 127.0.0.1 port in a child process, then runs N
concurrent clients that send Draw-page predictions (a 140 x 140 drawing, all activations) for
a fixed time and at most a fixed number of requests; each client waits --think-ms between
requests, 120 ms by default (the Draw page's pace while drawing; 0 sends flat out). Prints
requests/s, p50/p95/p99 latency, errors and the server's RSS before and after.

    python benchmarks/studio_load.py [--model PATH] [--clients 16] [--seconds 30]
        [--think-ms 120] [--max-requests 200000]

Without --model it uses LeNet-5 (the lenet5 lab's network) with random weights: the cost of a
forward pass does not depend on the weights.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import socket
import sys
import time

import numpy as np


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _serve(port: int, model_path: str | None) -> None:
    import uvicorn

    from faltung.studio.app import create_app
    if model_path:
        app = create_app(model_path)
    else:
        from faltung.labs import zoo
        app = create_app(zoo.lenet5(), dataset=None)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _drawing() -> dict:
    image = np.zeros((140, 140), dtype=np.uint8)
    yy, xx = np.mgrid[:140, :140]
    for t in np.linspace(0, 1, 60):  # a slanted "1" with round ends, ~9 px wide
        cy, cx = 20 + 100 * t, 74 - 8 * t
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < 20] = 255
    return {"width": 140, "height": 140, "data": base64.b64encode(image.tobytes()).decode()}


async def _client(port: int, body: bytes, stop_at: float, budget: list[int],
                  think: float, latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
               f"application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    try:
        while time.perf_counter() < stop_at and budget[0] > 0:
            budget[0] -= 1
            start = time.perf_counter()
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors.append(f"HTTP {status}")
            if think:
                await asyncio.sleep(think)
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


async def _run(port: int, clients: int, seconds: float, max_requests: int,
               think: float) -> tuple[list[float], list[str], float, int]:
    import json
    body = json.dumps({"drawing": _drawing(), "layers": "all"}).encode()
    latencies: list[float] = []
    errors: list[str] = []
    budget = [max_requests]
    start = time.perf_counter()
    await asyncio.gather(*[_client(port, body, start + seconds, budget, think, latencies,
                                   errors) for _ in range(clients)])
    return latencies, errors, time.perf_counter() - start, len(body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help=".keras/.h5 file (default: LeNet-5)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--think-ms", type=float, default=120.0,
                        help="pause of each client between requests: 120 ms is the Draw "
                             "page's throttle while drawing (default); 0: flat out")
    args = parser.parse_args()
    if not (1 <= args.clients <= 256 and 0 < args.seconds <= 600 and args.max_requests > 0):
        parser.error("clients 1..256, seconds in (0, 600], max-requests > 0")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = mp.get_context("spawn").Process(target=_serve, args=(port, args.model), daemon=True)
    server.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or not server.is_alive():
                    print("the server did not start", file=sys.stderr)
                    return 1
                time.sleep(0.1)
        # warm up: first requests build the layer-output model's caches
        asyncio.run(_run(port, 2, 1.0, 50, 0.0))
        rss_before = _rss_mb(server.pid)
        latencies, errors, wall, size = asyncio.run(
            _run(port, args.clients, args.seconds, args.max_requests, args.think_ms / 1000))
        rss_after = _rss_mb(server.pid)
    finally:
        server.terminate()
        server.join(10)
    ms = np.array(latencies) * 1000
    print(f"studio load test: {args.clients} clients, {wall:.1f} s, request body {size} bytes, "
          f"think {args.think_ms:g} ms, cpus {os.cpu_count()}, load average "
          f"{os.getloadavg()[0]:.2f}")
    if len(ms):
        print(f"requests: {len(ms)}  ({len(ms) / wall:.1f} requests/s)")
        print(f"latency ms: p50 {np.percentile(ms, 50):.2f}  p95 {np.percentile(ms, 95):.2f}  "
              f"p99 {np.percentile(ms, 99):.2f}  max {ms.max():.2f}")
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print(f"server RSS: {rss_before:.1f} MB before, {rss_after:.1f} MB after")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
