"""Developer and CI sessions: ``nox -s lint tests`` is what CI runs (through .ci/run)."""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests", "release"]
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
    # matplotlib: the benchmark's charts are tested too, and it is no dependency of the package.
    session.install("-e", ".[dev]", "matplotlib")
    env = {k: v for k, v in os.environ.items() if k.startswith(("INVENTORY_TEST_", "CI"))}
    session.run(
        "pytest",
        "--cov",
        "--cov-branch",
        "--cov-report=term",
        *session.posargs,
        env=env,
    )


# ---------------------------------------------------------------- release

ROOT = Path(__file__).resolve().parent

# What `release` runs from the installed wheel, in a directory outside the source tree: another
# team's test module for their adapter, here the in-memory one (docs/library.md).
CONTRACT_TEST_MODULE = """\
import sys
from pathlib import Path

import pytest

import inventory_core
from inventory_core.contract import (
    InMemoryContractAdapter,
    InventoryContract,
    make_state_machine_test,
)


def test_the_suite_comes_from_the_installed_wheel():
    installed = Path(inventory_core.__file__).resolve()
    assert installed.is_relative_to(Path(sys.prefix).resolve()), installed


class TestInstalledContract(InventoryContract):
    @pytest.fixture
    def contract_adapter(self):
        return InMemoryContractAdapter()


TestInstalledStateMachine = make_state_machine_test(InMemoryContractAdapter)
"""
CONTRACT_CONFTEST = """\
from hypothesis import settings

# Deterministic like the tests session's "ci" profile: the same answer every run.
settings.register_profile(
    "release", max_examples=50, deadline=None, derandomize=True, database=None, print_blob=True
)
settings.load_profile("release")
"""

# Run in the fresh virtualenv after `pip install inventory-core`: the core and its contract
# package import, and the only dependency installed is attrs.
BARE_INSTALL_CHECK = """\
import importlib.metadata
import inventory_core, inventory_core.contract
names = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
assert names - {"pip", "setuptools"} == {"inventory-core", "attrs"}, sorted(names)
"""


def _wheel_problems(wheel: Path, version: str) -> list[str]:
    """What the wheel lacks or holds that it should not."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = f"inventory_core-{version}.dist-info"
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    problems = []
    wanted = [f"{package}/py.typed" for package in PACKAGES]
    wanted += ["inventory_core/data/common-passwords.txt.gz"]
    wanted += [p.relative_to(ROOT).as_posix() for p in ROOT.glob("inventory_pg/migrations/*.sql")]
    if not any(re.fullmatch(r"inventory_pg/migrations/\d+_\w+\.sql", n) for n in names):
        problems.append("no inventory_pg/migrations/*.sql at all")
    problems += [f"missing {name}" for name in wanted if name not in names]
    tops = {name.split("/")[0] for name in names}
    problems += [f"unexpected top-level {t}" for t in sorted(tops - {*PACKAGES, dist_info})]
    if not re.search(r"^inventory = inventory_http\.cli:main$", entry_points, re.MULTILINE):
        problems.append("no `inventory` console script")
    return problems


def _sdist_problems(sdist: Path, version: str) -> list[str]:
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    wanted = ["pyproject.toml", "README.md", "inventory_core/__init__.py", "tests/conftest.py"]
    wanted += [p.relative_to(ROOT).as_posix() for p in ROOT.glob("inventory_pg/migrations/*.sql")]
    problems = [f"missing {name}" for name in wanted if name not in names]
    if not sdist.name.startswith(f"inventory_core-{version}."):
        problems.append(f"{sdist.name} is not version {version}")
    return problems


@nox.session
def release(session: nox.Session) -> None:
    """Build the sdist and wheel into dist/, check them (twine, contents, version), then install
    the wheel in a fresh virtualenv and run the shipped contract suite from it, outside the
    source tree -- as a team using `inventory-core[testing]` would."""
    session.install("build", "twine")
    version = re.search(
        r'^__version__ = "([^"]+)"$',
        (ROOT / "inventory_core" / "__init__.py").read_text(),
        re.MULTILINE,
    )
    if version is None:
        session.error("no __version__ in inventory_core/__init__.py")
    version_text = version.group(1)

    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    # Builds the sdist, then the wheel from the sdist: a file missing from the sdist shows here.
    session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT))
    artifacts = sorted(dist.iterdir())
    session.run("twine", "check", "--strict", *map(str, artifacts))

    wheels = [p for p in artifacts if p.suffix == ".whl"]
    sdists = [p for p in artifacts if p.name.endswith(".tar.gz")]
    if len(wheels) != 1 or len(sdists) != 1:
        session.error(f"expected one wheel and one sdist in dist/, found {artifacts}")
    wheel = wheels[0]
    if not wheel.name.startswith(f"inventory_core-{version_text}-"):
        session.error(f"{wheel.name} is not version {version_text} (inventory_core.__version__)")
    problems = _wheel_problems(wheel, version_text) + _sdist_problems(sdists[0], version_text)
    if problems:
        session.error("release artifacts: " + "; ".join(problems))
    session.log(f"{wheel.name}: migrations, py.typed, password list and console script present")

    with tempfile.TemporaryDirectory(prefix="inventory-release-") as scratch:
        venv, suite = Path(scratch) / "venv", Path(scratch) / "suite"
        python = str(venv / "bin" / "python")
        session.run("python", "-m", "venv", str(venv))
        session.run(python, "-m", "pip", "install", "-q", "--upgrade", "pip", external=True)
        # The bare install brings attrs and nothing else.
        session.run(python, "-m", "pip", "install", "-q", str(wheel), external=True)
        session.run(
            python,
            "-c",
            BARE_INSTALL_CHECK,
            external=True,
        )
        session.run(python, "-m", "pip", "install", "-q", f"{wheel}[testing]", external=True)
        suite.mkdir()
        (suite / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
        (suite / "conftest.py").write_text(CONTRACT_CONFTEST)
        (suite / "test_my_adapter.py").write_text(CONTRACT_TEST_MODULE)
        with session.chdir(suite):
            session.run(python, "-m", "pytest", "-q", external=True, env={"PYTHONPATH": ""})
