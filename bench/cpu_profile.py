"""Where the CPU of one POST goes, on the real stack (issue 12: a target missed on 2 shared cores
must come with the profile that says why).

    python bench/cpu_profile.py [--connections 32] [--duration 10]

Starts the stack exactly as bench/http_bench.py does (a throwaway PostgreSQL cluster, a
redis-server, ``inventory serve`` with 2 workers x 4 threads, 200 seeded items), runs the spread
POST transfer load with wrk, and reads the CPU time every process used during the run from
/proc (utime + stime): the API's gunicorn workers, the PostgreSQL backends and background
processes, redis-server, and wrk itself. Divided by the requests served, that is the CPU one
request costs in each, and their sum against the machine's cores says whether the run was CPU
bound. Then it profiles the API's Python in process (cProfile, one thread, the same requests
through the Falcon app on the same database and Redis) and prints the functions that take the
most time, grouped by layer.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_bench as hb
from _proc import cpu_seconds


def _processes() -> dict[int, str]:
    """Every process, by pid, with its command name."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            found[int(stat.parent.name)] = stat.read_text().strip()
        except OSError:
            continue
    return found


def _category(name: str, pid: int, api: set[int]) -> str | None:
    if pid in api:
        return "API (gunicorn workers: Python)"
    if name.startswith("postgres") or name.startswith("postmaster"):
        return "PostgreSQL (backends, WAL writer, ...)"
    if name.startswith("redis-server"):
        return "redis-server"
    return None


def account(wrk_argv: list[str], api: set[int]) -> tuple[dict[str, float], float, int, float]:
    """CPU seconds per category over one wrk run; the wall time, the requests and the req/s."""
    before = {pid: cpu_seconds(pid) for pid in _processes()}
    start = time.monotonic()
    done = subprocess.run(wrk_argv, capture_output=True, text=True, check=True)
    wall = time.monotonic() - start
    after = _processes()
    used: dict[str, float] = defaultdict(float)
    for pid, name in after.items():
        category = _category(name, pid, api)
        if category is None:
            continue
        used[category] += cpu_seconds(pid) - before.get(pid, 0.0)
    requests = int(hb.re.search(r"(\d+) requests in", done.stdout)[1])  # type: ignore[index]
    rps = float(hb.re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)[1])  # type: ignore[index]
    return dict(used), wall, requests, rps


def profile_in_process(svc: hb.Services, s: hb.Seed, session: hb.Session, calls: int) -> str:
    """cProfile of ``calls`` spread POST transfers through the Falcon app, in this process."""
    import falcon.testing  # noqa: PLC0415

    from inventory_http.settings import Settings  # noqa: PLC0415
    from inventory_http.wiring import build  # noqa: PLC0415

    runtime = build(Settings.from_env(hb.inventory_env(svc)))
    try:
        client = falcon.testing.TestClient(runtime.app)
        headers = {
            "Cookie": session.cookie,
            "X-CSRF-Token": session.csrf,
            "Content-Type": "application/json",
        }

        def post(n: int) -> None:
            a, b = (s.bin1, s.bin2) if n % 2 else (s.bin2, s.bin1)
            item = s.items[n % len(s.items)]
            body = (
                f'{{"kind":"transfer","lines":[{{"item_id":"{item}","quantity":1,'
                f'"from_location_id":"{a}","to_location_id":"{b}"}}]}}'
            )
            result = client.simulate_post("/v1/movements", body=body, headers=headers)
            assert result.status_code == 201, result.text

        for n in range(200):  # warm up: prepared statements, caches
            post(n)
        cpu = time.process_time()
        wall = time.perf_counter()
        profiler = cProfile.Profile()
        profiler.enable()
        for n in range(calls):
            post(n)
        profiler.disable()
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
    finally:
        runtime.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(35)
    layers = _by_layer(stats)
    lines = [
        f"in process, one thread: {calls} POSTs, {cpu / calls * 1000:.2f} ms CPU and "
        f"{wall / calls * 1000:.2f} ms wall per request (under cProfile, which inflates "
        "Python time)",
        "",
        "| layer (own time of its functions) | ms per request | share |",
        "|---|---:|---:|",
    ]
    total = sum(layers.values())
    for layer, seconds in sorted(layers.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {layer} | {seconds / calls * 1000:.3f} | {seconds / total:.0%} |")
    return "\n".join(lines) + "\n\n" + out.getvalue()


LAYERS = [
    (
        "waiting on sockets (Postgres, Redis round trips)",
        ("select", "poll", "recv", "send", "wait"),
    ),
    ("psycopg (query preparation, adaptation, results)", ("/psycopg",)),
    ("redis-py (sessions)", ("/redis/",)),
    ("inventory_pg (SQL building, rows to objects)", ("/inventory_pg/",)),
    ("inventory_core (executor, use case, entities)", ("/inventory_core/", "/attr/", "/attrs/")),
    ("inventory_http (middleware, resources, DTOs)", ("/inventory_http/", "/cattrs/", "/cattr/")),
    ("falcon (routing, request, response)", ("/falcon/",)),
    ("json, uuid, logging, datetime (stdlib)", ("json", "uuid", "logging", "datetime")),
]


def _by_layer(stats: pstats.Stats) -> dict[str, float]:
    layers: dict[str, float] = defaultdict(float)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _, function), (_, _, own, _, _) in raw.items():
        where = f"{filename}:{function}"
        for layer, marks in LAYERS:
            if any(mark in where for mark in marks):
                layers[layer] += own
                break
        else:
            layers["other (falcon testing, builtins)"] += own
    return layers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    wrk_bin = hb.ensure_wrk()
    print(f"machine: {hb.machine()}")
    with hb.services(args.connections) as svc, tempfile.TemporaryDirectory() as tmp:
        env = hb.inventory_env(svc)
        hb.wait_for(lambda: hb._answers(svc.redis_port), 30, "redis-server")
        hb.inventory("migrate", env=env)
        hb.inventory(
            "create-user",
            hb.USER,
            "--role",
            "admin",
            env={**env, "INVENTORY_PASSWORD": hb.PASSWORD},
        )
        port = hb.free_port()
        base = f"http://127.0.0.1:{port}"
        serve = [sys.executable, "-m", "inventory_http", "serve", "--bind", f"127.0.0.1:{port}"]
        with hb.process(serve, env, base + "/readyz") as server:
            session = hb.Session(base)
            s = hb.seed(session, 200)
            quoted = ", ".join(f'"{item}"' for item in s.items)
            post_lua = Path(tmp, "post.lua")
            post_lua.write_text(
                hb.POST_SPREAD_LUA.format(
                    items=quoted, cookie=session.cookie, csrf=session.csrf, bin1=s.bin1, bin2=s.bin2
                )
            )
            api = set(hb.workers_of(server.pid))
            warm = [wrk_bin, "-t2", "-c8", "-d2s", "-s", str(post_lua), base]
            subprocess.run(warm, capture_output=True, check=True)
            argv = [
                wrk_bin, "-t2", f"-c{args.connections}", f"-d{args.duration}s",
                "-s", str(post_lua), base,
            ]  # fmt: skip
            children_before = os.times()
            used, wall, requests, rps = account(argv, api)
            children_after = os.times()
            wrk_cpu = (children_after.children_user + children_after.children_system) - (
                children_before.children_user + children_before.children_system
            )
            used["wrk (the load generator)"] = wrk_cpu
            cores = os.cpu_count() or 1
            print(
                f"\nPOST transfer (spread, 200 items) at {args.connections} connections: "
                f"{rps:,.0f} req/s, {requests} requests in {wall:.1f} s\n"
            )
            print("| process | CPU s | ms CPU per request | share of the machine |")
            print("|---|---:|---:|---:|")
            for category, seconds in sorted(used.items(), key=lambda kv: -kv[1]):
                print(
                    f"| {category} | {seconds:.1f} | {seconds / requests * 1000:.2f} "
                    f"| {seconds / (wall * cores):.0%} |"
                )
            total = sum(used.values())
            print(
                f"| all of them | {total:.1f} | {total / requests * 1000:.2f} "
                f"| {total / (wall * cores):.0%} of {cores} cores |"
            )
        print()
        print(profile_in_process(svc, s, session, args.calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
