"""HTTP under load (DESIGN §8): the real stack against its two ceilings, in one run.

    python bench/http_bench.py [--connections 32] [--duration 10] [--sweep]
                               [--ledger-sizes 10000 100000 1000000] [--charts docs/img]
    python bench/http_bench.py --compare-with REV [--rounds 3] [--compare-output FILE]

Starts a throwaway PostgreSQL cluster and redis-server of its own (temporary folder, free
ports), runs ``inventory migrate`` / ``create-user`` / ``serve`` (gunicorn, --workers/--threads),
seeds over HTTP a warehouse with two bins and ``--items`` items (200 by default) with 10^9
units received into each bin, then loads from wrk (a second process, wrk Lua scripts):

* ``GET /v1/items/{id}/stock`` with the session cookie, each request for an item drawn at random;
* ``POST /v1/movements`` spread: transfers of 1 unit between the two bins, in a random direction,
  each of an item drawn at random, with the cookie, the CSRF header and a JSON body. DESIGN §8:
  rows are spread over many items, as real traffic is;
* ``POST /v1/movements`` hot row: the same transfers, all of the first item, back and forth, so
  every transfer updates the same two level rows (it measures lock queueing, not the stack);

and, with the same number of connections, the ceilings:

* framework: bench/bare_falcon.py (constant JSON) under the same gunicorn settings, loaded by wrk;
* database, spread: pgbench running bench/pgbench_movement_spread.sql (the SQL of one transfer,
  of an item drawn at random from the same items) with as many clients, on the same cluster;
* database, hot row: pgbench running bench/pgbench_movement.sql (the same SQL on the first item
  only: the same two rows as the hot-row POST load).

Prints req/s, p50 and p99 of each, the ratios against the targets (GET >= 0.40 of bare Falcon,
each POST >= 0.25 of the pgbench ceiling of the same shape, p99 < 25 ms) and the peak RSS
(VmHWM) of every worker. ``--sweep`` adds GET and the spread POST at 1, 2, 4, 8, 16 and 64
connections. Installs wrk with apt-get when it is missing. Everything it starts is stopped at
the end.

``--ledger-sizes N ...`` then starts the API again and, for each N in ascending order, grows the
ledger to N movements directly in SQL (bench/_ledger.py: filler items and bins, stock levels
raised with it and checked against the sum of the ledger lines), and runs the GET and the
spread POST load again at ``--connections``: stock reads are a projection and should not slow
down as the ledger grows. ``--charts DIR`` draws req/s and p99 against connections (from
``--sweep``) and against ledger size as PNGs in DIR (bench/_charts.py; installs matplotlib with
pip when missing).

``--compare-with REV`` measures instead what a change costs the POST: the code at the git
revision REV ("before", checked out with ``git worktree add --detach`` in a temporary folder and
removed at the end; the checkout's own worktree, index and branches are left alone) against this
working tree ("after"), in one run on the same cluster and redis-server. ``--rounds N`` (3 by
default) rounds of before and after, alternating which goes first; each variant of each round gets
a fresh database, migrated by that code's own ``inventory migrate`` (and redis flushed), the same
``create-user`` and seed, a CHECKPOINT, then ``inventory serve`` of that code (PYTHONPATH and cwd:
its folder, checked before it starts), a 2 s warm-up and the spread and hot-row POST loads at
``--connections``. For each load it records req/s, p50, p99, the requests, and the CPU time (utime
+ stime, /proc) the gunicorn workers, the PostgreSQL processes and redis-server used per request,
with how busy the whole machine was (/proc/stat; "other" is what none of them nor wrk used: someone
else's load). It prints every round, the medians of the rounds per variant, and the cost ratio
after / before of each load, with cost = 1 / req/s and cost = CPU per request (of the API workers,
and of the API, PostgreSQL and redis together), against ``TARGET_OVERHEAD`` (1.15); CPU per request
is the better measure on a small machine that wrk shares. Writes it all as JSON to
``--compare-output`` (bench/results/events_overhead.json by default). No GET, ceilings, sweep,
ledger sizes or charts."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import platform
import pwd
import re
import secrets
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import _ledger
import attrs
import psycopg
from _database import drop_database, reset_database, with_database
from _proc import cpu_seconds, machine_busy_seconds

from inventory_core import Actor, LineRequest, PostMovement, Role
from inventory_pg import PgStore

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
USER = "bench-admin"
PASSWORD = "bench-" + os.urandom(12).hex()
TARGET_GET, TARGET_POST, TARGET_P99_MS = 0.40, 0.25, 25.0
TARGET_POST_GROWTH = 2.0  # POST at the main connection count / at 2 connections (issue 12)
SWEEP = (1, 2, 4, 8, 16, 64)  # connections of --sweep, besides the main count
TARGET_OVERHEAD = 1.15  # --compare-with: POST cost after / before (the events issue)
COMPARE_OUTPUT = BENCH / "results" / "events_overhead.json"


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


def ensure_matplotlib() -> None:
    if importlib.util.find_spec("matplotlib") is not None:
        return
    print("matplotlib is missing (bench-only): pip install matplotlib", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"], check=True)
    importlib.invalidate_caches()
    if importlib.util.find_spec("matplotlib") is None:
        raise BenchError("matplotlib could not be installed")


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


def inventory_env(
    svc: Services, root: Path = ROOT, database_url: str | None = None
) -> dict[str, str]:
    """The environment of ``inventory``: the code under ``root`` (this checkout, or the worktree
    of --compare-with), on ``database_url`` (the cluster's postgres database by default)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVENTORY_")}
    env.update(
        PYTHONPATH=str(root),
        INVENTORY_DATABASE_URL=database_url or svc.database_url,
        INVENTORY_REDIS_URL=svc.redis_url,
        INVENTORY_COOKIE_SECURE="false",
        INVENTORY_LOG_LEVEL="WARNING",
        INVENTORY_IDEMPOTENCY_SECRET=secrets.token_hex(32),
    )
    return env


def inventory(*args: str, env: dict[str, str], root: Path = ROOT) -> None:
    # cwd too: ``python -m`` puts the current folder first on sys.path, before PYTHONPATH.
    done = subprocess.run(
        [sys.executable, "-m", "inventory_http", *args],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise BenchError(f"inventory {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


@contextlib.contextmanager
def process(
    argv: list[str], env: dict[str, str], ready_url: str, cwd: Path = ROOT
) -> Iterator[subprocess.Popen[bytes]]:
    log = tempfile.TemporaryFile()  # noqa: SIM115
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)

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
    items: tuple[str, ...]  # the spread loads draw from all; the hot-row load uses the first
    bin1: str
    bin2: str

    @property
    def item(self) -> str:
        """The hot-row item: every transfer of the hot-row loads, and the library probe's."""
        return self.items[0]


RECEIPT_ITEMS = 100  # items per seeding receipt (two lines each, far below the line limit)


def seed(session: Session, items: int) -> Seed:
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
    ids = tuple(
        session.call("POST", "/v1/items", {"sku": f"BENCH-{n:04}", "name": f"Bench item {n}"})["id"]
        for n in range(1, items + 1)
    )
    # 10^9 units of every item in both bins: transfers of 1 unit in a random direction never
    # run out, whatever the load's length.
    for first in range(0, items, RECEIPT_ITEMS):
        session.call(
            "POST",
            "/v1/movements",
            {
                "kind": "receipt",
                "lines": [
                    {"item_id": item, "quantity": 10**9, "to_location_id": b}
                    for item in ids[first : first + RECEIPT_ITEMS]
                    for b in bins
                ],
            },
        )
    return Seed(ids, bins[0], bins[1])


def number_items_for_pgbench(svc: Services, s: Seed) -> None:
    """pgbench_items (n, item_id), n = 1.. in the seed's order, which
    bench/pgbench_movement_spread.sql draws its item from (pgbench variables are numbers)."""
    with psycopg.connect(svc.database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE pgbench_items (n int PRIMARY KEY, item_id uuid NOT NULL)")
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO pgbench_items (n, item_id) VALUES (%s, %s)",
                [(n, UUID(item)) for n, item in enumerate(s.items, start=1)],
            )
        conn.execute("ANALYZE pgbench_items")


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
    return wrk_result(name, connections, run_wrk(binary, name, url, script, connections, duration))


def run_wrk(
    binary: str, name: str, url: str, script: Path | None, connections: int, duration: int
) -> str:
    """wrk's report (stdout)."""
    log(f"wrk {name} at {connections} connections")
    argv = [binary, f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    return subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout


def wrk_result(name: str, connections: int, out: str) -> Result:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out)[1])  # type: ignore[index]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    count = int(bad[1]) if bad else 0
    if errors:
        count += sum(int(g) for g in errors.groups())
    return Result(name, connections, rps, p50, p99, count)


def pgbench(
    svc: Services,
    name: str,
    script: str,
    variables: dict[str, str],
    clients: int,
    duration: int,
) -> Result:
    log(f"pgbench {script} at {clients} clients")
    logs = Path(tempfile.mkdtemp(prefix="inventory-pgbench-"))
    try:
        argv = [
            str(svc.bindir / "pgbench"), "-n", "-h", "127.0.0.1", "-p", str(svc.pg_port),
            "-U", "postgres", "-c", str(clients), "-j", str(min(2, clients)), "-T", str(duration),
            "-M", "prepared", "-f", str(BENCH / script),
            *(f"-D{key}={value}" for key, value in variables.items()),
            "-l", f"--log-prefix={logs}/tx", "postgres",
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
            name,
            clients,
            tps,
            q[49],
            q[98],
            int(failed[1]) if failed else 0,
        )
    finally:
        shutil.rmtree(logs, ignore_errors=True)


# Each wrk thread has a Lua state of its own: seeded apart, so that the threads do not draw the
# same items in the same order.
SPREAD_LUA = """
local items = {{{items}}}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end
function init(args)
  math.randomseed(os.time() * 100 + thread_no)
end
"""

GET_SPREAD_LUA = (
    SPREAD_LUA
    + """
wrk.headers["Cookie"] = "{cookie}"
wrk.headers["Accept"] = "application/json"
request = function()
  return wrk.format(nil, "/v1/items/" .. items[math.random(#items)] .. "/stock")
end
"""
)

# The body of one transfer (item, from, to) and the headers of every POST.
TRANSFER_LUA = """
local body = '{{"kind":"transfer","lines":[{{"item_id":"%s","quantity":1,'
  .. '"from_location_id":"%s","to_location_id":"%s"}}]}}'
local headers = {{
  ["Cookie"] = "{cookie}",
  ["X-CSRF-Token"] = "{csrf}",
  ["Content-Type"] = "application/json",
  ["Accept"] = "application/json",
}}
"""

POST_SPREAD_LUA = (
    SPREAD_LUA
    + TRANSFER_LUA
    + """
request = function()
  local a, b = "{bin1}", "{bin2}"
  if math.random(2) == 2 then a, b = b, a end
  local item = items[math.random(#items)]
  return wrk.format("POST", "/v1/movements", headers, string.format(body, item, a, b))
end
"""
)

# The hot-row case: every transfer of the same item between the same two bins.
POST_HOT_LUA = (
    TRANSFER_LUA
    + """
local n = 0
request = function()
  n = n + 1
  local a, b = "{bin1}", "{bin2}"
  if n % 2 == 0 then a, b = b, a end
  return wrk.format("POST", "/v1/movements", headers, string.format(body, "{item}", a, b))
end
"""
)


@attrs.frozen
class Names:
    """The label of each load in the printed table; the ratios and charts find rows by them."""

    items: int
    bare: str = "bare Falcon GET (framework ceiling)"
    post_hot: str = "POST /v1/movements transfer (hot row)"
    db_hot: str = "pgbench movement SQL (db ceiling, hot row)"

    @property
    def get(self) -> str:
        return f"GET /v1/items/{{id}}/stock (spread, {self.items} items)"

    @property
    def post(self) -> str:
        return f"POST /v1/movements transfer (spread, {self.items} items)"

    @property
    def db(self) -> str:
        return f"pgbench movement SQL (db ceiling, spread, {self.items} items)"


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
    parser.add_argument("--threads", type=int, default=4)  # as Settings.threads
    parser.add_argument(
        "--items",
        type=int,
        default=200,
        help="items the spread loads draw from (DESIGN §8: at least 200)",
    )
    parser.add_argument(
        "--sweep", action="store_true", help="also POST and GET at 1..64 connections"
    )
    parser.add_argument(
        "--ledger-sizes",
        type=int,
        nargs="+",
        default=[],
        metavar="N",
        help="then GET and POST again with the ledger grown to N movements, for each N",
    )
    parser.add_argument(
        "--charts", type=Path, metavar="DIR", help="draw PNG charts of the runs into DIR"
    )
    parser.add_argument(
        "--compare-with",
        metavar="REV",
        help="only the POST loads: the code at git revision REV against the working tree",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="--compare-with: rounds of before and after (alternating which goes first)",
    )
    parser.add_argument(
        "--compare-output",
        type=Path,
        default=COMPARE_OUTPUT,
        metavar="FILE",
        help="--compare-with: where to write the JSON (default bench/results/events_overhead.json)",
    )
    args = parser.parse_args(argv)
    if args.items < 1:
        parser.error("--items must be at least 1")
    if args.compare_with is not None:
        if args.sweep or args.ledger_sizes or args.charts is not None:
            parser.error("--compare-with takes no --sweep, --ledger-sizes or --charts")
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        return compare(args, ensure_wrk(), argv)
    wrk_bin = ensure_wrk()
    if args.charts is not None:
        ensure_matplotlib()  # before minutes of load, not after
    c, d = args.connections, args.duration
    names = Names(args.items)
    gunicorn = ["--workers", str(args.workers), "--threads", str(args.threads)]
    results: list[Result] = []
    steps: list[LedgerStep] = []
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
            log(f"seeding {args.items} items over HTTP")
            s = seed(session, args.items)
            number_items_for_pgbench(svc, s)
            get_lua, post_lua = Path(tmp, "get.lua"), Path(tmp, "post.lua")
            post_hot_lua = Path(tmp, "post-hot.lua")
            quoted = ", ".join(f'"{item}"' for item in s.items)
            get_lua.write_text(GET_SPREAD_LUA.format(items=quoted, cookie=session.cookie))
            post_lua.write_text(
                POST_SPREAD_LUA.format(
                    items=quoted, cookie=session.cookie, csrf=session.csrf, bin1=s.bin1, bin2=s.bin2
                )
            )
            post_hot_lua.write_text(
                POST_HOT_LUA.format(
                    cookie=session.cookie, csrf=session.csrf, item=s.item, bin1=s.bin1, bin2=s.bin2
                )
            )
            wrk(wrk_bin, "warm-up", base, get_lua, c, 2)
            results.append(wrk(wrk_bin, names.get, base, get_lua, c, d))
            results.append(wrk(wrk_bin, names.post, base, post_lua, c, d))
            results.append(wrk(wrk_bin, names.post_hot, base, post_hot_lua, c, d))
            if args.sweep:
                for n in SWEEP:
                    results.append(wrk(wrk_bin, names.get, base, get_lua, n, d // 2))
                    results.append(wrk(wrk_bin, names.post, base, post_lua, n, d // 2))
            for pid in workers_of(server.pid):
                rss[pid] = peak_rss_mib(pid)
        log("API stopped")
        bare_port = free_port()
        bare = [
            sys.executable, "-m", "gunicorn", "--chdir", str(BENCH), "--worker-class", "gthread",
            *gunicorn, "--bind", f"127.0.0.1:{bare_port}", "--keep-alive", "5",
            "--no-control-socket", "--log-level", "warning", "--reuse-port", "bare_falcon:app",
        ]  # fmt: skip
        # The same gunicorn settings as inventory serve's (inventory_http.wsgi.gunicorn_options).
        bare_base = f"http://127.0.0.1:{bare_port}"
        with process(bare, env, bare_base + "/readyz"):
            bare_url = f"{bare_base}/v1/items/{s.item}/stock"
            wrk(wrk_bin, "warm-up", bare_url, None, c, 2)
            results.append(wrk(wrk_bin, names.bare, bare_url, None, c, d))
        bins = {"bin1": s.bin1, "bin2": s.bin2, "actor": session.user_id}
        spread = {"items": str(len(s.items)), **bins}
        results.append(pgbench(svc, names.db, "pgbench_movement_spread.sql", spread, c, d))
        hot = {"item": s.item, **bins}
        results.append(pgbench(svc, names.db_hot, "pgbench_movement.sql", hot, c, d))
        if args.ledger_sizes:
            # After the ceilings, so that pgbench runs on the same small ledger as without the flag.
            with process(serve, env, base + "/readyz"):
                log("API started again for the ledger sizes")
                wrk(wrk_bin, "warm-up", base, get_lua, c, 2)
                with psycopg.connect(svc.database_url, autocommit=True) as conn:
                    for size in sorted(set(args.ledger_sizes)):
                        steps.append(
                            ledger_step(
                                conn, svc.database_url, size, s, UUID(session.user_id), wrk_bin,
                                (names.get, base, get_lua), (names.post, base, post_lua), c, d,
                            )
                        )  # fmt: skip
    report(results, rss, c, names)
    if steps:
        report_ledger(steps)
    if args.charts is not None:
        draw_charts(args.charts, results, steps, c, d, names)
    return 0


@attrs.frozen
class LedgerStep:
    size: int  # as asked, or as found when the ledger already held more
    movements: int  # found by the check, just before the load (in-flight POSTs land meanwhile)
    grown_from: int
    grow_s: float
    check: _ledger.Checked
    settle_s: float
    probe: Probe
    get: Result
    post: Result


def ledger_step(
    conn: psycopg.Connection[Any],
    url: str,
    size: int,
    s: Seed,
    actor: UUID,
    wrk_bin: str,
    get: tuple[str, str, Path],
    post: tuple[str, str, Path],
    c: int,
    d: int,
) -> LedgerStep:
    log(f"growing the ledger to {size:,} movements")
    grown = _ledger.grow(url, size, actor, UUID(s.bin1))
    try:
        checked = _ledger.check(conn)
    except _ledger.LedgerBroken as error:
        raise BenchError(f"after growing the ledger to {size:,} movements: {error}") from error
    log(
        f"grown from {grown.before:,} in {grown.seconds:.1f} s, levels = ledger "
        f"(checked in {checked.seconds:.1f} s); VACUUM ANALYZE, CHECKPOINT"
    )
    # What autovacuum and the checkpointer would otherwise start in the middle of the load,
    # after a million inserted rows; a long-lived ledger has had both done long ago.
    start = time.perf_counter()
    conn.execute("VACUUM (ANALYZE) movements, movement_lines, location_stock, warehouse_stock")
    conn.execute("CHECKPOINT")
    settle = time.perf_counter() - start
    log("library probe: item_stock() and transfers in this process, one connection")
    probe = library_probe(url, s, actor)
    return LedgerStep(
        size if grown.before < size else checked.movements,
        checked.movements,
        grown.before,
        grown.seconds,
        checked,
        settle,
        probe,
        wrk(wrk_bin, *get, c, d),
        wrk(wrk_bin, *post, c, d),
    )


@attrs.frozen
class Probe:
    get_p50_ms: float
    get_p99_ms: float
    post_p50_ms: float
    post_p99_ms: float


PROBE_CALLS, PROBE_WARM_UP = 300, 20


def library_probe(url: str, s: Seed, actor_id: UUID) -> Probe:
    """The stock read and the transfer of the hot-row item, called one after the other through
    the library on one connection: no HTTP, no gunicorn, no queueing, so what is left is the
    database's share -- the part the ledger size could change -- without the noise of 32
    connections on 2 shared cores."""
    # Imported here, not at the top: only --ledger-sizes needs the library's executor.
    from inventory_core import Executor, GetItemStock  # noqa: PLC0415

    actor, item = Actor(actor_id, Role.ADMIN), UUID(s.item)
    bins = UUID(s.bin1), UUID(s.bin2)
    transfers = [
        PostMovement("transfer", [LineRequest(item, 1, a, b)]) for a, b in (bins, bins[::-1])
    ]
    with PgStore.open(url, min_size=1, max_size=1) as store:
        inventory = Executor(store.unit_of_work)
        get = _timed(lambda n: inventory.execute(actor, GetItemStock(item)))
        post = _timed(lambda n: inventory.execute(actor, transfers[n % 2]))
    return Probe(get[49], get[98], post[49], post[98])


def _timed(call: Callable[[int], object]) -> list[float]:
    """Percentiles 1..99 of the call's latency in ms; the first calls are left out, as psycopg
    prepares a statement only on its fifth run."""
    times = []
    for n in range(PROBE_WARM_UP + PROBE_CALLS):
        start = time.perf_counter()
        call(n)
        if n >= PROBE_WARM_UP:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.quantiles(times, n=100)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def report(results: list[Result], rss: dict[int, float], c: int, names: Names) -> None:
    print()
    print("| load | connections | req/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.name} | {r.connections} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.errors} |"
        )

    def at(name: str) -> Result:
        return next(r for r in results if r.name == name and r.connections == c)

    get, bare = at(names.get), at(names.bare)
    post, db = at(names.post), at(names.db)
    hot, db_hot = at(names.post_hot), at(names.db_hot)
    print()
    g, p, h = get.rps / bare.rps, post.rps / db.rps, hot.rps / db_hot.rps
    spread = f"spread, {names.items} items"
    checks = [
        (f"GET / bare Falcon = {g:.2f}", g >= TARGET_GET, f">= {TARGET_GET}"),
        (f"POST / pgbench ({spread}) = {p:.2f}", p >= TARGET_POST, f">= {TARGET_POST}"),
        (f"POST / pgbench (hot row) = {h:.2f}", h >= TARGET_POST, f">= {TARGET_POST}"),
    ] + [
        (f"{label} p99 = {r.p99_ms:.1f} ms", r.p99_ms < TARGET_P99_MS, f"< {TARGET_P99_MS} ms")
        for label, r in (
            ("GET", get),
            (f"POST ({spread})", post),
            ("POST (hot row)", hot),
        )
    ]
    two = [r for r in results if r.name == names.post and r.connections == 2]
    if two:  # --sweep: writes must not queue behind one another (DESIGN §9)
        grows = post.rps / two[0].rps
        checks.append(
            (
                f"POST ({spread}) at {c} / at 2 connections = {grows:.2f}",
                grows >= TARGET_POST_GROWTH,
                f">= {TARGET_POST_GROWTH}",
            )
        )
    for text, ok, target in checks:
        print(f"- {text} (target {target}): {'met' if ok else 'NOT met'}")
    workers = ", ".join(f"{v:.0f} MiB" for v in rss.values())
    print(f"- peak RSS (VmHWM) per API worker: {workers}")


def report_ledger(steps: list[LedgerStep]) -> None:
    print()
    print("| ledger (movements) | load | connections | req/s | p50 ms | p99 ms | errors |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for step in steps:
        for r in (step.get, step.post):
            print(
                f"| {step.size:,} | {r.name} | {r.connections} | {r.rps:,.0f} "
                f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} |"
            )
    print()
    print(
        f"In this process through the library, one connection, {PROBE_CALLS} calls after "
        f"{PROBE_WARM_UP} unmeasured ones:"
    )
    print()
    print("| ledger (movements) | item_stock() p50 ms | p99 ms | transfer p50 ms | p99 ms |")
    print("|---:|---:|---:|---:|---:|")
    for step in steps:
        p = step.probe
        print(
            f"| {step.size:,} | {p.get_p50_ms:.2f} | {p.get_p99_ms:.2f} "
            f"| {p.post_p50_ms:.2f} | {p.post_p99_ms:.2f} |"
        )
    print()
    for step in steps:
        grown = (
            f"grown from {step.grown_from:,} in {step.grow_s:.1f} s"
            if step.grown_from < step.size
            else "already that large"
        )
        print(
            f"- {step.size:,} movements: {grown}; {step.movements:,} when checked: every level "
            "= sum of the ledger lines "
            f"({step.check.location_rows:,} location and {step.check.warehouse_rows:,} "
            f"warehouse rows, checked in {step.check.seconds:.1f} s); "
            f"VACUUM ANALYZE + CHECKPOINT {step.settle_s:.1f} s"
        )
    if len(steps) > 1:
        first, last = steps[0], steps[-1]
        for kind in ("get", "post"):
            a, b = getattr(first, kind), getattr(last, kind)
            print(
                f"- {kind.upper()} at {last.size:,} vs {first.size:,} movements: "
                f"req/s x{b.rps / a.rps:.2f}, p99 {a.p99_ms:.1f} -> {b.p99_ms:.1f} ms"
            )
        a_probe, b_probe = first.probe, last.probe
        print(
            f"- in process: item_stock() p50 {a_probe.get_p50_ms:.2f} -> "
            f"{b_probe.get_p50_ms:.2f} ms, transfer p50 {a_probe.post_p50_ms:.2f} -> "
            f"{b_probe.post_p50_ms:.2f} ms"
        )


def draw_charts(
    folder: Path, results: list[Result], steps: list[LedgerStep], c: int, d: int, names: Names
) -> None:
    import _charts  # noqa: PLC0415 -- matplotlib only when charts are asked for

    subtitle = f"{machine()}; wrk over loopback, {time.strftime('%Y-%m-%d')}"
    written = []
    by_connections = {
        name: [_charts.Point(r.connections, r.rps, r.p99_ms) for r in results if r.name == name]
        for name in (names.get, names.post, names.post_hot)
    }
    if len(by_connections[names.get]) > 1:
        path = folder / "http-connections.png"
        _charts.draw(
            path,
            title=(
                f"inventory serve: throughput and p99 against connections "
                f"({d} s at {c} connections, {d // 2} s at the others)"
            ),
            subtitle=subtitle,
            xlabel="concurrent connections (wrk, log scale)",
            series=by_connections,
            log_y=True,
            p99_target_ms=TARGET_P99_MS,
            ceilings=[
                _charts.Ceiling(
                    f"{r.name}, {r.connections} conn.",
                    r.connections,
                    r.rps,
                    "GET" if r.name == names.bare else "POST",
                )
                for r in results
                if r.name in (names.bare, names.db, names.db_hot)
            ],
        )
        written.append(path)
    else:
        log("no --sweep: no chart against connections")
    if steps:
        path = folder / "http-ledger.png"
        _charts.draw(
            path,
            title=(
                f"inventory serve: throughput and p99 against ledger size "
                f"({steps[0].get.connections} connections, {d} s per point)"
            ),
            subtitle=subtitle,
            xlabel="movements in the ledger (log scale)",
            series={
                names.get: [_charts.Point(st.size, st.get.rps, st.get.p99_ms) for st in steps],
                names.post: [_charts.Point(st.size, st.post.rps, st.post.p99_ms) for st in steps],
            },
            log_y=False,
            p99_target_ms=TARGET_P99_MS,
            powers_of_ten=True,
            extra=_charts.Panel(
                f"The same through the library, in process\n(1 connection, {PROBE_CALLS} calls)",
                "latency, ms",
                {
                    "item_stock() p50": [(st.size, st.probe.get_p50_ms) for st in steps],
                    "item_stock() p99": [(st.size, st.probe.get_p99_ms) for st in steps],
                    "transfer p50": [(st.size, st.probe.post_p50_ms) for st in steps],
                    "transfer p99": [(st.size, st.probe.post_p99_ms) for st in steps],
                },
            ),
        )
        written.append(path)
    else:
        log("no --ledger-sizes: no chart against ledger size")
    if written:
        print(f"- charts: {', '.join(str(p) for p in written)}")


# ---------------------------------------------------------------- --compare-with

VARIANTS = ("before", "after")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[tuple[Path, str]]:
    """A detached worktree of ``rev`` in a temporary folder, and the commit; removed at the end.
    Only ``git worktree add`` and ``remove``: the checkout's worktree, index and branches stay."""
    found = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode:
        raise BenchError(f"--compare-with {rev}: not a commit of {ROOT}")
    commit = found.stdout.strip()
    folder = Path(tempfile.mkdtemp(prefix="inventory-bench-rev-"))
    tree = folder / "tree"
    git = ["git", "-C", str(ROOT), "worktree"]
    added = subprocess.run(
        [*git, "add", "--detach", str(tree), commit], capture_output=True, text=True, check=False
    )
    if added.returncode:
        shutil.rmtree(folder, ignore_errors=True)
        raise BenchError(f"git worktree add failed:\n{added.stderr}")
    try:
        yield tree, commit
    finally:
        removed = subprocess.run(
            [*git, "remove", "--force", str(tree)], capture_output=True, text=True, check=False
        )
        if removed.returncode:
            log(f"git worktree remove {tree} failed, remove it by hand: {removed.stderr.strip()}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def check_code_root(env: dict[str, str], root: Path) -> None:
    """That ``inventory`` run with ``env`` from ``root`` imports its packages from ``root``."""
    probe = (
        "import inventory_core, inventory_http, inventory_pg\n"
        "for m in (inventory_core, inventory_http, inventory_pg): print(m.__file__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=root, capture_output=True, text=True, check=True
    )
    for path in done.stdout.split():
        if not Path(path).resolve().is_relative_to(root.resolve()):
            raise BenchError(f"the code of {root} would be imported from {path}")


def fresh_database(svc: Services, name: str) -> str:
    """Drops and creates database ``name`` on the cluster; its URL."""
    url = with_database(svc.database_url, name)
    reset_database(url, admin=svc.database_url)
    return url


def flush_redis(svc: Services) -> None:
    with socket.create_connection(("127.0.0.1", svc.redis_port), timeout=5) as conn:
        conn.sendall(b"FLUSHALL\r\n")
        if not conn.recv(64).startswith(b"+OK"):
            raise BenchError("redis-server refused FLUSHALL")


def postmaster_pid(svc: Services) -> int:
    return int((svc.folder / "data" / "postmaster.pid").read_text().split()[0])


@attrs.frozen
class Measured:
    """One load of one variant of one round, with the CPU it cost."""

    round: int
    variant: str
    load: str
    result: Result
    requests: int
    seconds: float
    api_cpu_s: float  # the gunicorn workers
    pg_cpu_s: float  # the postmaster and every process it started
    redis_cpu_s: float
    wrk_cpu_s: float
    machine_busy_s: float  # every core, every process

    def per_request_ms(self, seconds: float) -> float:
        return seconds / self.requests * 1000

    @property
    def api_ms(self) -> float:
        return self.per_request_ms(self.api_cpu_s)

    @property
    def server_ms(self) -> float:
        """API, PostgreSQL and redis: all the server side costs a request."""
        return self.per_request_ms(self.api_cpu_s + self.pg_cpu_s + self.redis_cpu_s)

    @property
    def other_share(self) -> float:
        """The share of the machine's cores used by none of ours nor wrk: others' load."""
        ours = self.api_cpu_s + self.pg_cpu_s + self.redis_cpu_s + self.wrk_cpu_s
        return max(0.0, self.machine_busy_s - ours) / (self.seconds * (os.cpu_count() or 1))

    def as_json(self) -> dict[str, Any]:
        r = self.result
        return {
            "round": self.round,
            "variant": self.variant,
            "load": self.load,
            "connections": r.connections,
            "req_s": round(r.rps, 1),
            "p50_ms": r.p50_ms,
            "p99_ms": r.p99_ms,
            "errors": r.errors,
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "api_cpu_ms_per_request": round(self.api_ms, 4),
            "pg_cpu_ms_per_request": round(self.per_request_ms(self.pg_cpu_s), 4),
            "redis_cpu_ms_per_request": round(self.per_request_ms(self.redis_cpu_s), 4),
            "server_cpu_ms_per_request": round(self.server_ms, 4),
            "wrk_cpu_ms_per_request": round(self.per_request_ms(self.wrk_cpu_s), 4),
            "machine_busy_share": round(
                self.machine_busy_s / (self.seconds * (os.cpu_count() or 1)), 3
            ),
            "other_load_share": round(self.other_share, 3),
        }


def measured_wrk(
    binary: str,
    load: tuple[str, str, Path],
    c: int,
    d: int,
    pids: tuple[list[int], int, int],
    where: tuple[int, str],
) -> Measured:
    """A wrk run, and the CPU the API workers, PostgreSQL, redis and wrk used meanwhile."""
    name, url, script = load
    api, postmaster, redis = pids

    def pg() -> dict[int, float]:
        return {pid: cpu_seconds(pid) for pid in [postmaster, *workers_of(postmaster)]}

    pg_before, redis_before = pg(), cpu_seconds(redis)
    api_before = {pid: cpu_seconds(pid) for pid in api}
    children, busy, start = os.times(), machine_busy_seconds(), time.monotonic()
    out = run_wrk(binary, name, url, script, c, d)
    seconds = time.monotonic() - start
    busy = machine_busy_seconds() - busy
    api_cpu = sum(cpu_seconds(pid) - api_before[pid] for pid in api)
    pg_cpu = sum(cpu - pg_before.get(pid, 0.0) for pid, cpu in pg().items())
    redis_cpu = cpu_seconds(redis) - redis_before
    after = os.times()
    wrk_cpu = after.children_user + after.children_system
    wrk_cpu -= children.children_user + children.children_system
    found = re.search(r"(\d+) requests in", out)
    if found is None or int(found[1]) == 0:
        raise BenchError(f"wrk {name}: no requests served:\n{out}")
    return Measured(
        where[0], where[1], name, wrk_result(name, c, out), int(found[1]), seconds,
        api_cpu, pg_cpu, redis_cpu, wrk_cpu, busy,
    )  # fmt: skip


def compare_round(
    svc: Services,
    tmp: Path,
    wrk_bin: str,
    args: argparse.Namespace,
    where: tuple[int, str],
    root: Path,
) -> tuple[list[Measured], dict[str, int]]:
    """One variant of one round: a fresh database, that code's migrate, create-user, serve,
    seed, and the two POST loads. Also the movements and events the database then holds."""
    number, variant = where
    c, d, names = args.connections, args.duration, Names(args.items)
    database = f"bench_{variant}_{number}"
    log(f"round {number}, {variant}: fresh database {database}, code of {root}")
    env = inventory_env(svc, root, fresh_database(svc, database))
    flush_redis(svc)
    check_code_root(env, root)
    inventory("migrate", env=env, root=root)
    inventory(
        "create-user",
        USER,
        "--role",
        "admin",
        env={**env, "INVENTORY_PASSWORD": PASSWORD},
        root=root,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = ["--workers", str(args.workers), "--threads", str(args.threads)]
    serve = [sys.executable, "-m", "inventory_http", "serve", "--bind", f"127.0.0.1:{port}"]
    measured = []
    with process([*serve, *gunicorn], env, base + "/readyz", cwd=root) as server:
        session = Session(base)
        s = seed(session, args.items)
        with psycopg.connect(env["INVENTORY_DATABASE_URL"], autocommit=True) as conn:
            conn.execute("CHECKPOINT")  # the seed's writes flushed, not during the load
        post_lua, post_hot_lua = tmp / f"post-{database}.lua", tmp / f"post-hot-{database}.lua"
        quoted = ", ".join(f'"{item}"' for item in s.items)
        transfer = {"cookie": session.cookie, "csrf": session.csrf, "bin1": s.bin1, "bin2": s.bin2}
        post_lua.write_text(POST_SPREAD_LUA.format(items=quoted, **transfer))
        post_hot_lua.write_text(POST_HOT_LUA.format(item=s.item, **transfer))
        wait_for(lambda: len(workers_of(server.pid)) == args.workers, 30, "the gunicorn workers")
        pids = (workers_of(server.pid), postmaster_pid(svc), svc.redis.pid if svc.redis else 0)
        wrk(wrk_bin, "warm-up", base, post_lua, c, 2)
        for load in ((names.post, base, post_lua), (names.post_hot, base, post_hot_lua)):
            measured.append(measured_wrk(wrk_bin, load, c, d, pids, where))
    with psycopg.connect(env["INVENTORY_DATABASE_URL"], autocommit=True) as conn:
        counts = {"movements": conn.execute("SELECT count(*) FROM movements").fetchone()[0]}  # type: ignore[index]
        if conn.execute("SELECT to_regclass('events') IS NOT NULL").fetchone()[0]:  # type: ignore[index]
            rows = conn.execute("SELECT type, count(*) FROM events GROUP BY type").fetchall()
            counts.update({f"events {kind}": n for kind, n in rows})
    drop_database(with_database(svc.database_url, database), admin=svc.database_url)
    return measured, counts


def _median(values: list[float]) -> float:
    return statistics.median(values)


def compare(args: argparse.Namespace, wrk_bin: str, argv: list[str] | None) -> int:
    c, names = args.connections, Names(args.items)
    command = f"python bench/http_bench.py {' '.join(argv or sys.argv[1:])}".rstrip()
    load_before = load_average()
    print(f"machine: {machine()}")
    print(f"command: {command}")
    print(f"load average at the start: {load_before}")
    measured: list[Measured] = []
    counts: dict[str, dict[str, int]] = {}
    with (
        worktree(args.compare_with) as (before_root, commit),
        services(c) as svc,
        tempfile.TemporaryDirectory() as tmp,
    ):
        wait_for(lambda: _answers(svc.redis_port), 30, "redis-server")
        log(f"before: {commit} in {before_root}; after: the working tree of {ROOT}")
        roots = {"before": before_root, "after": ROOT}
        for number in range(1, args.rounds + 1):
            # Alternate which variant goes first: whatever the one before leaves behind
            # (autovacuum of its database, a warm or cold cache) must not always favour one.
            for variant in VARIANTS if number % 2 else tuple(reversed(VARIANTS)):
                where = (number, variant)
                got, counted = compare_round(svc, Path(tmp), wrk_bin, args, where, roots[variant])
                measured += got
                counts[f"{variant} {number}"] = counted
    load_after = load_average()
    summary = compare_report(measured, names, counts)
    print(f"- load average at the start: {load_before}; at the end: {load_after}")
    document = {
        "machine": machine(),
        "command": command,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "before": {"rev": args.compare_with, "commit": commit},
        "after": "working tree of " + str(ROOT),
        "connections": c,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "workers": args.workers,
        "threads": args.threads,
        "items": args.items,
        "target_overhead": TARGET_OVERHEAD,
        "load_average": {"start": load_before, "end": load_after},
        "runs": [m.as_json() for m in measured],
        "database_after_each_run": counts,
        **summary,
    }
    args.compare_output.parent.mkdir(parents=True, exist_ok=True)
    args.compare_output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"- written to {args.compare_output}")
    return 0


COST_MEASURES: dict[str, Callable[[Measured], float]] = {
    "1/req_s": lambda m: 1 / m.result.rps,
    "API worker CPU per request": lambda m: m.api_ms,
    "API + PostgreSQL + redis CPU per request": lambda m: m.server_ms,
}


def compare_report(
    measured: list[Measured], names: Names, counts: dict[str, dict[str, int]]
) -> dict[str, Any]:
    print()
    print(
        "| round | code | load | req/s | p50 ms | p99 ms | errors | API CPU ms/req "
        "| PG CPU ms/req | API+PG+redis ms/req | other load |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in measured:
        r = m.result
        print(
            f"| {m.round} | {m.variant} | {m.load} | {r.rps:,.0f} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.errors} | {m.api_ms:.3f} "
            f"| {m.per_request_ms(m.pg_cpu_s):.3f} | {m.server_ms:.3f} | {m.other_share:.0%} |"
        )
    medians: dict[str, dict[str, dict[str, float]]] = {}
    ratios: dict[str, dict[str, Any]] = {}
    print()
    print("Medians of the rounds:")
    print()
    print("| load | code | req/s | p50 ms | p99 ms | API CPU ms/req | API+PG+redis ms/req |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for load in (names.post, names.post_hot):
        medians[load] = {}
        for variant in VARIANTS:
            runs = [m for m in measured if m.load == load and m.variant == variant]
            med = {
                "req_s": _median([m.result.rps for m in runs]),
                "p50_ms": _median([m.result.p50_ms for m in runs]),
                "p99_ms": _median([m.result.p99_ms for m in runs]),
                "api_cpu_ms_per_request": _median([m.api_ms for m in runs]),
                "server_cpu_ms_per_request": _median([m.server_ms for m in runs]),
            }
            medians[load][variant] = med
            print(
                f"| {load} | {variant} | {med['req_s']:,.0f} | {med['p50_ms']:.2f} "
                f"| {med['p99_ms']:.2f} | {med['api_cpu_ms_per_request']:.3f} "
                f"| {med['server_cpu_ms_per_request']:.3f} |"
            )
    print()
    print(f"Cost after / before (target <= {TARGET_OVERHEAD}):")
    print()
    for load in (names.post, names.post_hot):
        ratios[load] = {}
        for measure, cost in COST_MEASURES.items():
            before = [cost(m) for m in measured if m.load == load and m.variant == "before"]
            after = [cost(m) for m in measured if m.load == load and m.variant == "after"]
            ratio = _median(after) / _median(before)
            paired = [a / b for a, b in zip(after, before, strict=True)]
            ratios[load][measure] = {
                "ratio_of_medians": round(ratio, 4),
                "per_round": [round(x, 4) for x in paired],
                "met": ratio <= TARGET_OVERHEAD,
            }
            rounds = ", ".join(f"{x:.3f}" for x in paired)
            verdict = "met" if ratio <= TARGET_OVERHEAD else "NOT met"
            print(
                f"- {load}, cost = {measure}: {ratio:.3f} of the medians "
                f"(per round {rounds}): {verdict}"
            )
    for run, counted in counts.items():
        print(f"- {run}: " + ", ".join(f"{n:,} {what}" for what, n in counted.items()))
    return {"medians": medians, "cost_ratios": ratios}


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"http_bench: error: {error}", file=sys.stderr)
        sys.exit(1)
