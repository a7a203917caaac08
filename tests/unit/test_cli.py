"""The ``inventory`` command's parsing, validation and exit codes (no server started here)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inventory_http import wsgi
from inventory_http.cli import build_parser, main
from inventory_http.settings import Settings
from inventory_http.wiring import build
from inventory_http.wsgi import gunicorn_options

INVENTORY_VARS = (
    "INVENTORY_DATABASE_URL",
    "INVENTORY_REDIS_URL",
    "INVENTORY_PASSWORD",
    "INVENTORY_WORKERS",
    "INVENTORY_THREADS",
    "INVENTORY_BIND",
)


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


@pytest.mark.parametrize("command", [["migrate"], ["create-user", "alice", "--role", "clerk"]])
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
                "INVENTORY_DATABASE_URL": "postgresql://db/x",
                "INVENTORY_REDIS_URL": "redis://r/0",
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
