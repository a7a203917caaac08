"""The ``inventory`` command's parsing, validation and exit codes (no server started here)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inventory_http import app, wsgi
from inventory_http.cli import build_parser, main
from inventory_http.settings import Settings, SettingsError
from inventory_http.wiring import build
from inventory_http.wsgi import gunicorn_options

INVENTORY_VARS = (
    "INVENTORY_DATABASE_URL",
    "INVENTORY_REDIS_URL",
    "INVENTORY_PASSWORD",
    "INVENTORY_WORKERS",
    "INVENTORY_THREADS",
    "INVENTORY_BIND",
    "INVENTORY_IDEMPOTENCY_SECRET",
    "INVENTORY_METRICS",
)
SECRET = "0123456789abcdef" * 4
"""An INVENTORY_IDEMPOTENCY_SECRET (64 characters, as `openssl rand -hex 32` gives)."""
STACK = {
    "INVENTORY_DATABASE_URL": "postgresql://db/x",
    "INVENTORY_REDIS_URL": "redis://r/0",
    "INVENTORY_IDEMPOTENCY_SECRET": SECRET,
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in INVENTORY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "serve"),
        (["serve"], "--demo"),
        (["migrate"], "advisory lock"),
        (["create-user"], "INVENTORY_PASSWORD"),
        (["create-token"], "shown only now"),
    ],
)
def test_every_command_has_help(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    assert expected in capsys.readouterr().out.replace("\n", " ")


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--workers", "0"], "must be at least 1"),
        (["serve", "--threads", "many"], "must be a whole number"),
        (["serve", "--bind", "8000"], "must be HOST:PORT"),
        (["serve", "--bind", "localhost:99999"], "must be HOST:PORT"),
        (["create-user", "alice"], "--role"),
        (["create-user", "alice", "--role", "owner"], "invalid choice"),
        (["create-token", "alice"], "--name"),
        (["create-token", "alice", "--name", "ci", "--role", "owner"], "invalid choice"),
        (["create-token", "alice", "--name", "ci", "--expires-at", "soon"], "RFC 3339"),
        (
            ["create-token", "alice", "--name", "ci", "--expires-at", "2031-01-01T00:00:00"],
            "must say its offset",
        ),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_parser_accepts_overrides() -> None:
    args = build_parser().parse_args(
        ["serve", "--bind", "0.0.0.0:9000", "--workers", "4", "--threads", "2", "--demo"]
    )
    assert (args.bind, args.workers, args.threads, args.demo) == ("0.0.0.0:9000", 4, 2, True)


@pytest.mark.parametrize(
    "command",
    [
        ["migrate"],
        ["create-user", "alice", "--role", "clerk"],
        ["create-token", "alice", "--name", "ci"],
    ],
)
def test_database_commands_need_the_database_url(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(command) == 2
    assert "INVENTORY_DATABASE_URL is not set" in capsys.readouterr().err


def test_bad_settings_are_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INVENTORY_DATABASE_URL", "postgresql://nowhere/db")
    assert main(["serve"]) == 2
    assert "set both INVENTORY_DATABASE_URL and INVENTORY_REDIS_URL" in capsys.readouterr().err


def test_serve_refuses_a_weak_embedded_password_before_starting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INVENTORY_PASSWORD", "short")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "INVENTORY_PASSWORD is refused" in err
    assert "characters long" in err


def test_serve_demo_is_for_the_embedded_default_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INVENTORY_DATABASE_URL", "postgresql://nowhere/db")
    monkeypatch.setenv("INVENTORY_REDIS_URL", "redis://nowhere/0")
    monkeypatch.setenv("INVENTORY_IDEMPOTENCY_SECRET", SECRET)
    assert main(["serve", "--demo"]) == 2
    assert "--demo is for the embedded default only" in capsys.readouterr().err


def test_create_user_refuses_a_common_password_without_touching_the_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on port 9: had the command connected first, the error would differ.
    monkeypatch.setenv("INVENTORY_DATABASE_URL", "postgresql://127.0.0.1:9/none")
    monkeypatch.setenv("INVENTORY_PASSWORD", "password123")
    assert main(["create-user", "alice", "--role", "clerk"]) == 1
    assert "password refused: it is too common" in capsys.readouterr().err


def test_create_token_parses_its_options() -> None:
    args = build_parser().parse_args(
        [
            "create-token",
            "ci",
            "--name",
            "CI",
            "--role",
            "clerk",
            "--expires-at",
            "2031-01-01T00:00:00Z",
        ]
    )
    assert (args.username, args.name, args.role) == ("ci", "CI", "clerk")
    assert args.expires_at.isoformat() == "2031-01-01T00:00:00+00:00"
    defaults = build_parser().parse_args(["create-token", "ci", "--name", "CI"])
    assert (defaults.role, defaults.expires_at) == (None, None)


def test_gunicorn_options_follow_settings_and_overrides() -> None:
    settings = Settings(
        database_url="postgresql://db/x", redis_url="redis://r/0", workers=3, threads=5
    )
    options = gunicorn_options(settings)
    assert options["bind"] == ["127.0.0.1:8000"]
    assert (options["workers"], options["threads"]) == (3, 5)
    assert options["worker_class"] == "gthread"
    assert options["preload_app"] is False
    assert options["accesslog"] is None
    assert options["reuse_port"] is True  # a socket per worker: Linux, where this runs
    assert callable(options["post_fork"])
    assert callable(options["worker_exit"])
    overridden = gunicorn_options(settings, bind="0.0.0.0:1", workers=7, threads=1)
    assert (overridden["bind"], overridden["workers"], overridden["threads"]) == (
        ["0.0.0.0:1"],
        7,
        1,
    )


def test_the_embedded_default_always_runs_one_worker() -> None:
    options = gunicorn_options(Settings(workers=4, threads=3), workers=8)
    assert (options["workers"], options["threads"]) == (1, 3)


def test_serve_on_an_unreachable_database_fails_before_starting_gunicorn(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INVENTORY_DATABASE_URL", "postgresql://postgres@127.0.0.1:9/none")
    monkeypatch.setenv("INVENTORY_REDIS_URL", "redis://127.0.0.1:9/0")
    monkeypatch.setenv("INVENTORY_IDEMPOTENCY_SECRET", SECRET)
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert "inventory: error: cannot reach the database" in err
    assert "Starting gunicorn" not in err


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"INVENTORY_WORKERS": "3", "INVENTORY_THREADS": "4"}, "1 4 gthread False None"),
        (
            {
                **STACK,
                "INVENTORY_WORKERS": "3",
                "INVENTORY_BIND": "0.0.0.0:9000",
            },
            "3 4 gthread False None 0.0.0.0:9000",
        ),
    ],
)
def test_gunicorn_config_file_reads_the_settings_when_gunicorn_loads_it(
    env: dict[str, str], expected: str
) -> None:
    root = Path(__file__).resolve().parents[2]
    code = (
        "import inventory_http.gunicorn_conf as c\n"
        "print(c.workers, c.threads, c.worker_class, c.preload_app, c.accesslog, c.bind)\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INVENTORY_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(expected)


def test_post_fork_builds_the_runtime_and_freezes_it_out_of_the_collector() -> None:
    wsgi.configure(lambda: build(Settings(), admin_password="post-fork-test-pw-1"))
    gc.unfreeze()
    try:
        wsgi.post_fork(None, None)
        assert wsgi.create() is wsgi.start().app
        assert gc.get_freeze_count() > 1000  # the app and everything loaded so far
    finally:
        gc.unfreeze()
        wsgi.shutdown()
        wsgi.configure(None)


def test_serve_with_a_database_needs_the_idempotency_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on port 9: the settings are refused before anything is reached.
    monkeypatch.setenv("INVENTORY_DATABASE_URL", "postgresql://postgres@127.0.0.1:9/none")
    monkeypatch.setenv("INVENTORY_REDIS_URL", "redis://127.0.0.1:9/0")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "inventory: error: INVENTORY_IDEMPOTENCY_SECRET is not set" in err
    assert "openssl rand -hex 32" in err


def test_the_idempotency_secret_is_long_never_echoed_and_never_in_a_repr() -> None:
    weak = "not-32-characters-long"
    with pytest.raises(SettingsError, match="at least 32 characters") as refused:
        Settings.from_env({**STACK, "INVENTORY_IDEMPOTENCY_SECRET": weak})
    assert weak not in str(refused.value)
    settings = Settings.from_env(STACK)
    assert settings.idempotency_secret == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    # The embedded default (one process) may leave it unset: the app makes one up.
    assert Settings.from_env({}).idempotency_secret is None
    assert Settings.from_env({"INVENTORY_IDEMPOTENCY_SECRET": SECRET}).idempotency_secret == SECRET


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, False), ("true", True), ("on", True), ("0", False)]
)
def test_metrics_is_a_strict_boolean_off_by_default(raw: str | None, expected: bool) -> None:
    env = {} if raw is None else {"INVENTORY_METRICS": raw}
    assert Settings.from_env(env).metrics is expected


def test_a_metrics_value_that_is_no_boolean_is_refused() -> None:
    with pytest.raises(SettingsError, match="INVENTORY_METRICS must be true or false"):
        Settings.from_env({"INVENTORY_METRICS": "sometimes"})


def test_gunicorn_listens_per_worker_on_tcp_only() -> None:
    assert gunicorn_options(Settings())["reuse_port"] is True
    assert gunicorn_options(Settings(), bind="[::1]:8000")["reuse_port"] is True
    # SO_REUSEPORT on a unix socket fails (EOPNOTSUPP): every worker would fail to bind.
    assert gunicorn_options(Settings(), bind="unix:/tmp/inventory.sock")["reuse_port"] is False
    assert gunicorn_options(Settings())["on_starting"] is wsgi.on_starting


def test_gunicorn_keeps_worker_heartbeats_in_shared_memory_when_there_is_some(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(wsgi, "SHARED_MEMORY_DIR", str(tmp_path))
    assert gunicorn_options(Settings())["worker_tmp_dir"] == str(tmp_path)
    monkeypatch.setattr(wsgi, "SHARED_MEMORY_DIR", str(tmp_path / "absent"))
    assert gunicorn_options(Settings())["worker_tmp_dir"] is None  # gunicorn's default


def test_gunicorn_limits_sit_above_the_apps_own() -> None:
    options = gunicorn_options(Settings())
    # The request line is "METHOD TARGET HTTP/1.1": a target just over the app's limit must
    # still fit in gunicorn's, so that the app answers it.
    assert options["limit_request_line"] >= app.MAX_TARGET_BYTES + len("OPTIONS  HTTP/1.1") + 64
    assert options["limit_request_line"] <= 8190  # gunicorn caps it there
    assert options["limit_request_fields"] > app.MAX_HEADER_FIELDS
    assert options["limit_request_field_size"] > app.MAX_HEADER_FIELD_BYTES + 2  # + CRLF


def test_gunicorn_config_file_sets_the_hooks_limits_and_heartbeat_dir() -> None:
    root = Path(__file__).resolve().parents[2]
    code = (
        "import inventory_http.gunicorn_conf as c\n"
        "from inventory_http import wsgi\n"
        "print(c.on_starting is wsgi.on_starting, c.reuse_port, c.worker_tmp_dir,"
        " c.limit_request_line, c.limit_request_fields, c.limit_request_field_size)\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INVENTORY_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = gunicorn_options(Settings())
    assert result.stdout.split() == [
        "True",
        "True",
        str(expected["worker_tmp_dir"]),
        str(expected["limit_request_line"]),
        str(expected["limit_request_fields"]),
        str(expected["limit_request_field_size"]),
    ]


class _Config:
    def __init__(self, bind: list[str]) -> None:
        self.bind = bind


class _Arbiter:
    def __init__(self, bind: list[str]) -> None:
        self.cfg = _Config(bind)


def test_on_starting_refuses_an_address_something_else_listens_on() -> None:
    import socket  # noqa: PLC0415

    from tests.ports import free_port  # noqa: PLC0415

    port = free_port()
    with socket.socket() as other:
        # The way a gunicorn worker of another server listens: SO_REUSEPORT, which would let
        # our own workers join it.
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", port))
        other.listen()
        with pytest.raises(RuntimeError) as refused:
            wsgi.on_starting(_Arbiter([f"127.0.0.1:{port}"]))
    assert str(refused.value) == (
        f"127.0.0.1:{port} is already in use: another process listens on it"
    )
    # Refused, this process keeps no hold on the port (its lock was let go).
    assert not [name for name in wsgi._claims if name.endswith(f":{port}")]


@pytest.mark.parametrize(
    ("name", "value", "schemes"),
    [
        ("INVENTORY_REDIS_URL", "sentinel://s1:26379/mymaster", "redis://, rediss://, unix://"),
        ("INVENTORY_REDIS_URL", "localhost:6379", "redis://, rediss://, unix://"),
        ("INVENTORY_DATABASE_URL", "mysql://db/x", "postgresql://, postgres://"),
    ],
)
def test_a_url_the_adapters_cannot_open_is_refused_at_start(
    name: str, value: str, schemes: str
) -> None:
    with pytest.raises(SettingsError, match=f"{name} must start with one of {schemes}"):
        Settings.from_env({**STACK, name: value})


def test_the_urls_the_adapters_open_are_accepted() -> None:
    for redis_url in ("redis://r/0", "rediss://r:6380/1", "unix:///run/redis.sock"):
        assert Settings.from_env({**STACK, "INVENTORY_REDIS_URL": redis_url}).redis_url
    dsn = "host=db dbname=inventory user=app"  # psycopg's key=value form
    assert Settings.from_env({**STACK, "INVENTORY_DATABASE_URL": dsn}).database_url == dsn
