"""Developer and CI sessions: ``nox -s lint tests`` is what CI runs (through .ci/run)."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PACKAGES = ["inventory_core", "inventory_pg", "inventory_redis", "inventory_http"]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, ruff format --check, mypy --strict and the import-linter contracts."""
    session.install("-e", ".[dev]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", *[f"--package={p}" for p in PACKAGES])
    session.run("lint-imports")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite with branch coverage. Needs Postgres and Redis: set
    INVENTORY_TEST_DATABASE_URL and INVENTORY_TEST_REDIS_URL (see README)."""
    session.install("-e", ".[dev]")
    env = {k: v for k, v in os.environ.items() if k.startswith(("INVENTORY_TEST_", "CI"))}
    session.run(
        "pytest",
        "--cov",
        "--cov-branch",
        "--cov-report=term",
        *session.posargs,
        env=env,
    )
