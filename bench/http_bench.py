"""HTTP under load (DESIGN §8): the real stack against its two ceilings, in one run.

    python bench/http_bench.py [--connections 32] [--duration 10] [--sweep]

Starts a throwaway PostgreSQL cluster and redis-server of its own (temporary folder, free
ports), runs ``inventory migrate`` / ``create-user`` / ``serve`` (gunicorn, --workers/--threads),
seeds a warehouse with two bins and an item over HTTP, then loads from wrk (a second process):

* ``GET /v1/items/{id}/stock`` with the session cookie;
* ``POST /v1/movements``: transfers of 1 unit back and forth between the two bins, with the
  cookie, the CSRF header and a JSON body (a wrk Lua script);

and, with the same number of connections, the two ceilings:

* framework: bench/bare_falcon.py (constant JSON) under the same gunicorn settings, loaded by wrk;
* database: pgbench running bench/pgbench_movement.sql (the SQL of one transfer) with as many
  clients, on the same cluster and rows.

Prints req/s, p50 and p99 of each, the ratios against the targets (GET >= 0.40 of bare Falcon,
POST >= 0.25 of pgbench, p99 < 25 ms) and the peak RSS (VmHWM) of every worker. Installs wrk
with apt-get when it is missing. Everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
USER = "bench-admin"
PASSWORD = "bench-" + os.urandom(12).hex()
TARGET_GET, TARGET_POST, TARGET_P99_MS = 0.40, 0.25, 25.0


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Any, deadline: float, what: str) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise BenchError(f"timed out after {deadline}s waiting for {what}")
        time.sleep(0.05)


def pg_bindir() -> Path:
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "initdb").is_file() and (folder / "pgbench").is_file():
            return folder
    if initdb := shutil.which("initdb"):
        return Path(initdb).parent
    raise BenchError("initdb, pg_ctl and pgbench are needed (apt-get install postgresql)")


def ensure_wrk() -> str:
    if found := shutil.which("wrk"):
        return found
    print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    if found := shutil.which("wrk"):
        return found
    raise BenchError("wrk could not be installed")


# ---------------------------------------------------------------- services


@attrs.define
class Services:
    folder: Path
    bindir: Path
    pg_port: int
    redis_port: int
    run_as: list[str]
    redis: subprocess.Popen[bytes] | None = None

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def pg(self, *args: str) -> None:
        subprocess.run([*self.run_as, *args], check=True, capture_output=True, cwd=self.folder)


@contextlib.contextmanager
def services(connections: int) -> Iterator[Services]:
    folder = Path(tempfile.mkdtemp(prefix="inventory-bench-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    svc = Services(folder, pg_bindir(), free_port(), free_port(), run_as)
    data = str(folder / "data")
    started = False
    try:
        svc.pg(
            str(svc.bindir / "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        options = (
            f"-p {svc.pg_port} -c listen_addresses=127.0.0.1 -k {folder} "
            f"-c max_connections={max(100, 2 * connections + 40)} -c shared_buffers=256MB"
        )
        svc.pg(
            str(svc.bindir / "pg_ctl"),
            "-D",
            data,
            "-l",
            str(folder / "pg.log"),
            "-w",
            "-o",
            options,
            "start",
        )
        started = True
        svc.redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(svc.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        yield svc
    finally:
        if svc.redis is not None:
            svc.redis.kill()
            svc.redis.wait()
        if started:
            with contextlib.suppress(subprocess.CalledProcessError):
                svc.pg(str(svc.bindir / "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def inventory_env(svc: Services) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVENTORY_")}
    env.update(
        PYTHONPATH=str(ROOT),
        INVENTORY_DATABASE_URL=svc.database_url,
        INVENTORY_REDIS_URL=svc.redis_url,
        INVENTORY_COOKIE_SECURE="false",
        INVENTORY_LOG_LEVEL="WARNING",
    )
    return env


def inventory(*args: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "inventory_http", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise BenchError(f"inventory {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


@contextlib.contextmanager
def process(
    argv: list[str], env: dict[str, str], ready_url: str
) -> Iterator[subprocess.Popen[bytes]]:
    log = tempfile.TemporaryFile()  # noqa: SIM115
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def ready() -> bool:
        if proc.poll() is not None:
            log.seek(0)
            raise BenchError(f"{argv[:4]} exited:\n{log.read().decode(errors='replace')}")
        try:
            with urllib.request.urlopen(ready_url, timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.HTTPError):
            return False

    try:
        wait_for(ready, 60, f"{ready_url} to answer 200")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def workers_of(master: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            if int(text[text.rindex(")") + 2 :].split()[1]) == master:
                found.append(int(stat.parent.name))
    return sorted(found)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------- HTTP seed


@attrs.define
class Session:
    base: str
    cookie: str = ""
    csrf: str = ""
    user_id: str = ""

    def call(self, method: str, path: str, body: object) -> dict[str, Any]:
        request = urllib.request.Request(
            self.base + path, data=json.dumps(body).encode(), method=method
        )
        request.add_header("Content-Type", "application/json")
        if self.cookie:
            request.add_header("Cookie", self.cookie)
            request.add_header("X-CSRF-Token", self.csrf)
        with urllib.request.urlopen(request, timeout=30) as response:
            if set_cookie := response.headers.get("Set-Cookie"):
                self.cookie = set_cookie.split(";", 1)[0]
            result: dict[str, Any] = json.loads(response.read())
            return result


@attrs.frozen
class Seed:
    item: str
    bin1: str
    bin2: str


def seed(session: Session) -> Seed:
    login = session.call("POST", "/v1/session", {"username": USER, "password": PASSWORD})
    session.csrf, session.user_id = login["csrf_token"], login["user"]["id"]
    warehouse = session.call(
        "POST", "/v1/locations", {"code": "WH-BENCH", "name": "Bench", "kind": "warehouse"}
    )
    bins = [
        session.call(
            "POST",
            "/v1/locations",
            {
                "code": f"BIN-{n}",
                "name": f"Bin {n}",
                "kind": "internal",
                "parent_id": warehouse["id"],
            },
        )["id"]
        for n in (1, 2)
    ]
    item = session.call("POST", "/v1/items", {"sku": "BENCH-1", "name": "Bench item"})["id"]
    session.call(
        "POST",
        "/v1/movements",
        {
            "kind": "receipt",
            "lines": [{"item_id": item, "quantity": 10**9, "to_location_id": b} for b in bins],
        },
    )
    return Seed(item, bins[0], bins[1])


# ---------------------------------------------------------------- load


@attrs.frozen
class Result:
    name: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wrk(
    binary: str, name: str, url: str, script: Path | None, connections: int, duration: int
) -> Result:
    log(f"wrk {name} at {connections} connections")
    argv = [binary, f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out)[1])  # type: ignore[index]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    count = int(bad[1]) if bad else 0
    if errors:
        count += sum(int(g) for g in errors.groups())
    return Result(name, connections, rps, p50, p99, count)


def pgbench(svc: Services, s: Seed, user_id: str, clients: int, duration: int) -> Result:
    log(f"pgbench at {clients} clients")
    logs = Path(tempfile.mkdtemp(prefix="inventory-pgbench-"))
    try:
        argv = [
            str(svc.bindir / "pgbench"), "-n", "-h", "127.0.0.1", "-p", str(svc.pg_port),
            "-U", "postgres", "-c", str(clients), "-j", str(min(2, clients)), "-T", str(duration),
            "-M", "prepared", "-f", str(BENCH / "pgbench_movement.sql"),
            "-D", f"item={s.item}", "-D", f"bin1={s.bin1}", "-D", f"bin2={s.bin2}",
            "-D", f"actor={user_id}", "-l", f"--log-prefix={logs}/tx", "postgres",
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode:
            raise BenchError(f"pgbench failed:\n{done.stdout}{done.stderr}")
        out = done.stdout
        tps = float(re.search(r"tps = ([\d.]+)", out)[1])  # type: ignore[index]
        failed = re.search(r"number of failed transactions: (\d+)", out)
        latencies = sorted(
            int(line.split()[2]) / 1000
            for log in logs.iterdir()
            for line in log.read_text().splitlines()
            if line.split()[2].isdigit()  # not "failed" or "skipped"
        )
        q = statistics.quantiles(latencies, n=100)
        return Result(
            "pgbench movement SQL (db ceiling)",
            clients,
            tps,
            q[49],
            q[98],
            int(failed[1]) if failed else 0,
        )
    finally:
        shutil.rmtree(logs, ignore_errors=True)


GET_LUA = """
wrk.headers["Cookie"] = "{cookie}"
wrk.headers["Accept"] = "application/json"
"""

POST_LUA = """
local n = 0
local body = '{{"kind":"transfer","lines":[{{"item_id":"{item}","quantity":1,'
  .. '"from_location_id":"%s","to_location_id":"%s"}}]}}'
local headers = {{
  ["Cookie"] = "{cookie}",
  ["X-CSRF-Token"] = "{csrf}",
  ["Content-Type"] = "application/json",
  ["Accept"] = "application/json",
}}
request = function()
  n = n + 1
  local a, b = "{bin1}", "{bin2}"
  if n % 2 == 0 then a, b = b, a end
  return wrk.format("POST", "/v1/movements", headers, string.format(body, a, b))
end
"""


def machine() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 2**20:.0f} GiB"
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {mem} RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--sweep", action="store_true", help="also POST and GET at 1..64 connections"
    )
    args = parser.parse_args(argv)
    wrk_bin = ensure_wrk()
    c, d = args.connections, args.duration
    gunicorn = ["--workers", str(args.workers), "--threads", str(args.threads)]
    results: list[Result] = []
    rss: dict[int, float] = {}
    print(f"machine: {machine()}")
    print(f"command: python bench/http_bench.py {' '.join(argv or sys.argv[1:])}".rstrip())
    with services(max(c, 64 if args.sweep else c)) as svc, tempfile.TemporaryDirectory() as tmp:
        env = inventory_env(svc)
        wait_for(lambda: _answers(svc.redis_port), 30, "redis-server")
        log("cluster and redis-server started; migrate, create-user, serve")
        inventory("migrate", env=env)
        inventory(
            "create-user", USER, "--role", "admin", env={**env, "INVENTORY_PASSWORD": PASSWORD}
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        serve = [
            sys.executable,
            "-m",
            "inventory_http",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            *gunicorn,
        ]
        with process(serve, env, base + "/readyz") as server:
            session = Session(base)
            s = seed(session)
            get_lua, post_lua = Path(tmp, "get.lua"), Path(tmp, "post.lua")
            get_lua.write_text(GET_LUA.format(cookie=session.cookie))
            post_lua.write_text(
                POST_LUA.format(
                    cookie=session.cookie, csrf=session.csrf, item=s.item, bin1=s.bin1, bin2=s.bin2
                )
            )
            stock_url = f"{base}/v1/items/{s.item}/stock"
            wrk(wrk_bin, "warm-up", stock_url, get_lua, c, 2)
            results.append(wrk(wrk_bin, "GET /v1/items/{id}/stock", stock_url, get_lua, c, d))
            results.append(wrk(wrk_bin, "POST /v1/movements (transfer)", base, post_lua, c, d))
            if args.sweep:
                for n in (1, 4, 16, 64):
                    results.append(
                        wrk(wrk_bin, "GET /v1/items/{id}/stock", stock_url, get_lua, n, d // 2)
                    )
                    results.append(
                        wrk(wrk_bin, "POST /v1/movements (transfer)", base, post_lua, n, d // 2)
                    )
            for pid in workers_of(server.pid):
                rss[pid] = peak_rss_mib(pid)
        log("API stopped")
        bare_port = free_port()
        bare = [
            sys.executable, "-m", "gunicorn", "--chdir", str(BENCH), "--worker-class", "gthread",
            *gunicorn, "--bind", f"127.0.0.1:{bare_port}", "--keep-alive", "5",
            "--no-control-socket", "--log-level", "warning", "bare_falcon:app",
        ]  # fmt: skip
        bare_base = f"http://127.0.0.1:{bare_port}"
        with process(bare, env, bare_base + "/readyz"):
            bare_url = f"{bare_base}/v1/items/{s.item}/stock"
            wrk(wrk_bin, "warm-up", bare_url, None, c, 2)
            results.append(
                wrk(wrk_bin, "bare Falcon GET (framework ceiling)", bare_url, None, c, d)
            )
        results.append(pgbench(svc, s, session.user_id, c, d))
    report(results, rss, c)
    return 0


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def report(results: list[Result], rss: dict[int, float], c: int) -> None:
    print()
    print("| load | connections | req/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.name} | {r.connections} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.errors} |"
        )

    def at(name: str) -> Result:
        return next(r for r in results if r.name.startswith(name) and r.connections == c)

    get, post = at("GET"), at("POST")
    bare, db = at("bare Falcon"), at("pgbench")
    print()
    g, p = get.rps / bare.rps, post.rps / db.rps
    checks = [
        (f"GET / bare Falcon = {g:.2f}", g >= TARGET_GET, f">= {TARGET_GET}"),
        (f"POST / pgbench = {p:.2f}", p >= TARGET_POST, f">= {TARGET_POST}"),
        (f"GET p99 = {get.p99_ms:.1f} ms", get.p99_ms < TARGET_P99_MS, f"< {TARGET_P99_MS} ms"),
        (f"POST p99 = {post.p99_ms:.1f} ms", post.p99_ms < TARGET_P99_MS, f"< {TARGET_P99_MS} ms"),
    ]
    for text, ok, target in checks:
        print(f"- {text} (target {target}): {'met' if ok else 'NOT met'}")
    workers = ", ".join(f"{v:.0f} MiB" for v in rss.values())
    print(f"- peak RSS (VmHWM) per API worker: {workers}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"http_bench: error: {error}", file=sys.stderr)
        sys.exit(1)
