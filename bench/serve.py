"""Serving speed of the studio over HTTP, against a naive Keras ``model.predict`` per request.

    python bench/serve.py [--model DIR] [--requests 100] [--concurrent 200] [--clients 8]

Starts the real studio (``create_app`` under waitress, ``--threads`` workers) in a child process
on a free port of 127.0.0.1, with one extra route, ``/naive/generate/<res>/<seed>``, that renders
the same seed by calling ``keras.Model.predict`` on the same network for every request (the
usual first attempt at serving a Keras model; it rebuilds its input pipeline on every call). Both
paths answer over the same server in the same run, so the difference is the render path alone.

For every resolution it prints p50 and p99 latency of ``--requests`` sequential requests, and
p50, p99 and images/s of ``--clients`` concurrent clients sending ``--concurrent`` requests in
all; then 30- and 120-frame GIFs at the largest resolution, by the studio and by a naive path
(``/naive/interpolate``: one ``predict`` per frame), the split of a GIF's time between rendering
and GIF encoding (in the bench process), a repeated request (the render cache) and a 304
revalidation, beside the targets of the studio-under-load issue. Every other request names a
new seed and sends no ``If-None-Match``, so each one renders. The model is ``--model``, else the
shipped one, else a random export with the ``cpu`` preset's network (rendering costs the same
with any weights).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from config import PRESETS  # noqa: E402
from progan.errors import ProganError  # noqa: E402

READY = "serving on port "


# The server (child process) ----------------------------------------------------------------------


def naive_blueprint(holder):
    """``/naive/generate/<res>/<seed>``: the top stage through ``model.predict``, then the same
    area downsampling and PNG encoding as the studio, in NumPy."""
    import keras
    from flask import Blueprint, Response, request

    from app import service
    from progan import latent

    g = holder.generator
    inputs = keras.Input((g.latent_dim,))
    if g.classes:  # a conditional model draws its default class, as the studio's "original"
        labels = keras.Input((), dtype="int32")
        top = g.network(inputs, stage=g.stages - 1, labels=labels)
        model = keras.Model([inputs, labels], top)
        label = g.label_indices(latent.default_label(g), 1)
    else:
        model = keras.Model(inputs, g.network(inputs, stage=g.stages - 1))

    def predict(z: np.ndarray) -> np.ndarray:
        given = [z, np.repeat(label, len(z))] if g.classes else z
        return model.predict(given, verbose=0)

    top_height = g.shapes[-1][0]
    predict(latent.seed_latents([0], g.latent_dim))
    blueprint = Blueprint("naive", __name__)

    @blueprint.get("/naive/generate/<res>/<seed>")
    def naive(res: str, seed: str) -> Response:
        snapshot = holder.current()
        res, seed = service.parse_res(snapshot, res), service.parse_seed(seed)
        images = predict(latent.seed_latents([seed], g.latent_dim))
        height, width = g.shape_of(res)
        factor = top_height // height
        image = np.clip(images[0], -1, 1).reshape(height, factor, width, factor, 3).mean((1, 3))
        return Response(
            latent.encode_png((image * 127.5 + 128).astype(np.uint8)), mimetype="image/png"
        )

    @blueprint.get("/naive/interpolate/<res>/<a>/<b>.gif")
    def naive_gif(res: str, a: str, b: str) -> Response:
        snapshot = holder.current()
        res = service.parse_res(snapshot, res)
        frames = service.parse_frames(request.args.get("frames"))
        z = latent.seed_latents([service.parse_seed(a), service.parse_seed(b)], g.latent_dim)
        height, width = g.shape_of(res)
        factor = top_height // height
        images = []
        for vector in latent.interpolation_latents(z[0], z[1], frames, "slerp"):
            image = np.clip(predict(vector[None])[0], -1, 1)
            image = image.reshape(height, factor, width, factor, 3).mean((1, 3))
            images.append((image * 127.5 + 128).astype(np.uint8))
        return Response(latent.encode_gif(np.stack(images), 80), mimetype="image/gif")

    return blueprint


def serve(model: str, threads: int) -> None:
    import logging

    import waitress

    from app import create_app

    app = create_app({"MODEL_PATH": model})
    holder = app.extensions["progan_models"].default
    holder.warm_up()
    app.register_blueprint(naive_blueprint(holder))
    # Eight clients on fewer threads queue by design; waitress would warn on every request.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads)
    print(f"{READY}{server.effective_port}", flush=True)
    server.run()


# The clients (parent process) --------------------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection, as a browser tab would hold."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, float, http.client.HTTPResponse]:
        start = time.perf_counter()
        self.connection.request("GET", path, headers=headers or {})
        response = self.connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - start
        if response.status not in (200, 304):
            raise RuntimeError(f"GET {path} answered {response.status}")
        return response.status, elapsed, response

    def get_json(self, path: str) -> dict:
        self.connection.request("GET", path)
        return json.loads(self.connection.getresponse().read())

    def close(self) -> None:
        self.connection.close()


def sequential(port: int, paths: list[str]) -> list[float]:
    client = Client(port)
    client.get(paths[0])
    try:
        return [client.get(path)[1] for path in paths[1:]]
    finally:
        client.close()


def concurrent(port: int, paths: list[str], clients: int) -> tuple[float, list[float]]:
    """Images per second with ``clients`` connections sending ``paths`` between them, and the
    latency of every request."""
    errors: list[Exception] = []
    times: list[float] = []

    def work(part: list[str]) -> None:
        client = Client(port)
        try:
            for path in part:
                times.append(client.get(path)[1])
        except Exception as err:  # raised again in the calling thread
            errors.append(err)
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(paths[i::clients],)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return len(paths) / elapsed, times


def percentile(times: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(times) * 1000, q))


class SeedCounter:
    """Fresh seeds, so no request can be answered from a cache."""

    def __init__(self) -> None:
        self.next = 1_000_000

    def take(self, count: int) -> range:
        seeds = range(self.next, self.next + count)
        self.next += count
        return seeds


def measure(port: int, resolutions: list[str], args: argparse.Namespace) -> list[dict]:
    seeds = SeedCounter()
    rows = []
    for res in resolutions:
        for name, prefix in (("studio", "/generate"), ("naive predict", "/naive/generate")):
            suffix = "/original" if prefix == "/generate" else ""
            urls = [f"{prefix}/{res}/{s}{suffix}" for s in seeds.take(args.requests + 1)]
            times = sequential(port, urls)
            urls = [f"{prefix}/{res}/{s}{suffix}" for s in seeds.take(args.concurrent)]
            rate, loaded = concurrent(port, urls, args.clients)
            rows.append(
                {
                    "res": res,
                    "path": name,
                    "p50": percentile(times, 50),
                    "p99": percentile(times, 99),
                    "p50_loaded": percentile(loaded, 50),
                    "p99_loaded": percentile(loaded, 99),
                    "rate": rate,
                }
            )
            print(f"  {res} {name}: p50 {rows[-1]['p50']:.1f} ms, {rate:.0f} img/s", flush=True)
    return rows


def gifs_and_repeats(port: int, largest: str) -> dict[str, float]:
    """Median ms of 30- and 120-frame GIFs (studio and naive), of a repeated request, of a 304."""
    client = Client(port)
    result = {}
    try:
        for frames in (30, 120):
            for name, prefix in (("studio", "/interpolate"), ("naive", "/naive/interpolate")):
                times = [
                    client.get(f"{prefix}/{largest}/{a}/{a + 1}.gif?frames={frames}&delay=80")[1]
                    for a in range(7, 10)
                ]
                result[f"gif{frames}_{name}"] = statistics.median(times) * 1000
        url = f"/generate/{largest}/1/original"
        tag = client.get(url)[2].getheader("ETag")
        result["repeat"] = statistics.median(client.get(url)[1] for _ in range(50)) * 1000
        revalidations = []
        for _ in range(50):
            status, elapsed, _ = client.get(url, {"If-None-Match": tag})
            assert status == 304
            revalidations.append(elapsed)
        result["revalidate"] = statistics.median(revalidations) * 1000
    finally:
        client.close()
    return result


def gif_split(model: str, frames: int) -> tuple[float, float]:
    """Median ms of rendering a walk's frames and of encoding them as a GIF, in this process."""
    from progan import latent, load_generator

    g = load_generator(model)
    res = g.resolutions[-1]
    renders, encodes = [], []
    for a in range(3):
        start = time.perf_counter()
        images = latent.render_interpolation(g, a, a + 1, frames, res)
        renders.append(time.perf_counter() - start)
        start = time.perf_counter()
        latent.encode_gif(images, 80)
        encodes.append(time.perf_counter() - start)
    return statistics.median(renders) * 1000, statistics.median(encodes) * 1000


def start_server(model: str, threads: int) -> tuple[subprocess.Popen, int]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--model", model, "--threads", str(threads)],
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in child.stdout:
        if line.startswith(READY):
            return child, int(line[len(READY) :])
    child.wait()
    raise SystemExit(f"the server exited with status {child.returncode} before serving")


def bench_model(model: str | None, scratch: Path) -> str:
    if model is not None:
        return model
    from progan.export import resolve_export_dir, write_random_export

    try:
        return str(resolve_export_dir(None))
    except ProganError:
        print("no shipped model: benchmarking a random export of the cpu preset's network")
        return str(write_random_export(scratch / "model", PRESETS["cpu"].network, stages=5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="export or run folder (default: shipped, else random)")
    parser.add_argument("--requests", type=int, default=100, help="sequential, per resolution")
    parser.add_argument("--concurrent", type=int, default=200, help="in all, per resolution")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=4, help="waitress worker threads")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.model, args.threads)
        return

    with tempfile.TemporaryDirectory() as scratch:
        model = bench_model(args.model, Path(scratch))
        child, port = start_server(model, args.threads)
        try:
            client = Client(port)
            resolutions = client.get_json("/api/model")["resolutions"]
            client.close()
            print(f"studio on port {port}, {args.threads} threads, {os.cpu_count()} CPUs")
            rows = measure(port, resolutions, args)
            extra = gifs_and_repeats(port, resolutions[-1])
        finally:
            child.terminate()
            child.wait()
        split = {frames: gif_split(model, frames) for frames in (30, 120)}

    largest = resolutions[-1]
    print(
        f"\n{args.requests} sequential requests (1 client) and {args.concurrent} requests from "
        f"{args.clients} concurrent clients, per resolution and path:\n"
    )
    print(
        f"| resolution | path | p50 ms | p99 ms | p50 ms, {args.clients} clients | "
        f"p99 ms, {args.clients} clients | images/s, {args.clients} clients |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['res']} | {r['path']} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{r['p50_loaded']:.1f} | {r['p99_loaded']:.1f} | {r['rate']:.0f} |"
        )
    top = next(r for r in rows if r["res"] == largest and r["path"] == "studio")
    print(f"\n| at {largest} | studio | naive | target |\n|---|---:|---:|---:|")
    print(f"| /generate p50, 1 client | {top['p50']:.1f} ms | | ≤ 10 ms |")
    for frames, target in ((30, "≤ 300 ms"), (120, "≤ 1000 ms")):
        studio, naive = extra[f"gif{frames}_studio"], extra[f"gif{frames}_naive"]
        print(f"| {frames}-frame GIF (median of 3) | {studio:.0f} ms | {naive:.0f} ms | {target} |")
    for frames, (render, encode) in split.items():
        print(f"| {frames}-frame GIF: render / encode | {render:.0f} / {encode:.0f} ms | | |")
    print(f"| repeated request (render cache) | {extra['repeat']:.2f} ms | | |")
    print(f"| 304 revalidation | {extra['revalidate']:.2f} ms | | |")


if __name__ == "__main__":
    main()
