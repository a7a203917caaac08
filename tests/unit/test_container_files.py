"""The Dockerfile, docker-compose.yml and .env.example, checked by parsing them (no Docker engine).

Beyond their shape (stages, non-root user, health checks, start order), these tests hold the
deployment files to the code: every ``INVENTORY_*`` variable they name is one the application
reads, every variable :meth:`Settings.from_env` reads is listed in ``.env.example``, and the
commands they run are subcommands of the real ``inventory`` parser.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

from inventory_http.cli import build_parser
from inventory_http.settings import PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

VARIABLE = re.compile(r"\bINVENTORY_[A-Z0-9_]*[A-Z0-9]\b")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY|API_KEY", re.IGNORECASE)
COMPILERS = {"gcc", "g++", "cc", "c++", "clang", "make", "build-essential", "cargo", "rustc"}

# What a deployment with a database has to set (the secret has no default there).
STACK = {
    f"{PREFIX}DATABASE_URL": "postgresql://db/x",
    f"{PREFIX}REDIS_URL": "redis://r/0",
    f"{PREFIX}IDEMPOTENCY_SECRET": "s" * 32,
}

# Variables read outside Settings, and where: the password of `create-user` and of the embedded
# default's admin (read by the command), and the test suite's service URLs.
OTHER_VARIABLES = {
    "INVENTORY_PASSWORD": "inventory_http",
    "INVENTORY_TEST_DATABASE_URL": "tests",
    "INVENTORY_TEST_REDIS_URL": "tests",
}


# ---------------------------------------------------------------- the variables the code reads


class _RecordingEnviron(Mapping[str, str]):
    """An environment that records every name looked up in it."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        # Reading by iteration would hide names from this recorder: make that loud.
        raise AssertionError("Settings.from_env should look variables up by name")

    def __len__(self) -> int:
        return len(self._values)


def settings_variables() -> set[str]:
    """Every INVENTORY_* name ``Settings.from_env`` looks up, on the embedded default and with
    both services configured (so a lookup made only in one of the two modes is seen too)."""
    read: set[str] = set()
    for values in ({}, STACK):
        environ = _RecordingEnviron(values)
        Settings.from_env(environ)
        read |= environ.read
    return read


def test_the_recorder_sees_every_settings_variable() -> None:
    read = settings_variables()
    assert all(name.startswith(PREFIX) for name in read)
    # One variable per field, named after it: a field without one could be set by nobody.
    assert read == {PREFIX + field.name.upper() for field in attrs.fields(Settings)}
    for name in read:
        # Each one really is used: an unusable value is refused or a usable one changes a field.
        assert _variable_matters(name), f"Settings.from_env reads {name} but ignores it"


def _variable_matters(name: str) -> bool:
    base = STACK
    default = Settings.from_env(base)
    for candidate in ("0", "no", "7", "DEBUG", "https://a.example", "127.0.0.1:9", "x://other"):
        try:
            changed = Settings.from_env({**base, name: candidate})
        except ValueError:
            return True
        if changed != default:
            return True
    return False


def _named_in(path: Path) -> set[str]:
    return set(VARIABLE.findall(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", [DOCKERFILE, COMPOSE, ENV_EXAMPLE], ids=lambda p: p.name)
def test_deployment_files_name_only_variables_the_code_reads(path: Path) -> None:
    known = settings_variables() | set(OTHER_VARIABLES)
    unknown = _named_in(path) - known
    assert not unknown, f"{path.name} names variables nothing reads: {sorted(unknown)}"


def test_env_example_lists_every_settings_variable() -> None:
    missing = settings_variables() - _named_in(ENV_EXAMPLE)
    assert not missing, f".env.example does not list {sorted(missing)}"


@pytest.mark.parametrize(("name", "reader"), sorted(OTHER_VARIABLES.items()))
def test_other_variables_are_still_read(name: str, reader: str) -> None:
    sources = [p for p in (ROOT / reader).rglob("*.py") if p.resolve() != Path(__file__)]
    assert any(f'"{name}"' in p.read_text() for p in sources), f"{reader} no longer reads {name}"


# ---------------------------------------------------------------- Dockerfile


@attrs.frozen
class Instruction:
    keyword: str
    arguments: str


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """The instructions of each stage (the global ARGs before the first FROM are stage 0's)."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped by Docker too
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    stages: list[list[Instruction]] = [[]]
    for entry in logical:
        keyword, _, arguments = entry.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


@pytest.fixture(scope="module")
def dockerfile_stages() -> list[list[Instruction]]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def _only(stage: list[Instruction], keyword: str) -> list[str]:
    return [i.arguments for i in stage if i.keyword == keyword]


def _global_args(stages: list[list[Instruction]]) -> dict[str, str]:
    values = {}
    for arguments in _only(stages[0], "ARG"):
        name, _, default = arguments.partition("=")
        values[name] = default
    return values


def _base_image(stages: list[list[Instruction]], stage: list[Instruction]) -> str:
    image = stage[0].arguments.split()[0]
    for name, value in _global_args(stages).items():
        image = image.replace("${" + name + "}", value).replace("$" + name, value)
    return image


def test_the_image_is_built_in_stages_on_python_slim(
    dockerfile_stages: list[list[Instruction]],
) -> None:
    stages = dockerfile_stages[1:]
    assert len(stages) >= 2, "expected a builder stage and a runtime stage"
    for stage in stages:
        assert _base_image(dockerfile_stages, stage) == "python:3.11-slim"
    builder = " ".join(_only(stages[0], "RUN"))
    assert "pip wheel" in builder or "-m build" in builder
    runtime = " ".join(_only(stages[-1], "RUN"))
    assert "--no-index" in runtime, "the runtime stage installs the builder's wheels, offline"
    assert "[http]" in runtime


def test_the_final_stage_runs_as_a_non_root_user(
    dockerfile_stages: list[list[Instruction]],
) -> None:
    users = _only(dockerfile_stages[-1], "USER")
    assert users, "the final stage sets no USER, so it runs as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_the_final_stage_has_a_healthcheck_on_healthz(
    dockerfile_stages: list[list[Instruction]],
) -> None:
    checks = _only(dockerfile_stages[-1], "HEALTHCHECK")
    assert len(checks) == 1
    assert "CMD" in checks[0]
    assert "/healthz" in checks[0]
    assert "curl" not in checks[0], "python:3.11-slim has no curl"


def test_the_final_stage_serves_on_port_8000(dockerfile_stages: list[list[Instruction]]) -> None:
    final = dockerfile_stages[-1]
    assert "8000" in _only(final, "EXPOSE")
    env = " ".join(_only(final, "ENV"))
    assert "INVENTORY_BIND=0.0.0.0:8000" in env


def test_no_compiler_is_installed_in_the_final_stage(
    dockerfile_stages: list[list[Instruction]],
) -> None:
    for run in _only(dockerfile_stages[-1], "RUN"):
        words = set(re.split(r"[\s;&|]+", run))
        assert not words & COMPILERS, run
        assert not [w for w in words if w.endswith("-dev")], f"headers installed: {run}"


def test_no_secret_is_baked_into_the_image(dockerfile_stages: list[list[Instruction]]) -> None:
    for stage in dockerfile_stages:
        for instruction in stage:
            if instruction.keyword in {"ENV", "ARG"}:
                for name in re.findall(
                    r"([A-Za-z_][A-Za-z0-9_]*)(?==|\s|$)", instruction.arguments
                ):
                    assert not SECRET_NAME.search(name), f"{instruction.keyword} {name}"
            if instruction.keyword in {"COPY", "ADD"}:
                sources = [
                    w for w in shlex.split(instruction.arguments)[:-1] if not w.startswith("--")
                ]
                assert not [s for s in sources if ".env" in s or s == "."], instruction


def test_the_build_context_leaves_local_files_out() -> None:
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", ".dockerignore should be an allow-list"
    assert not [line for line in lines if line.startswith("!") and ".env" in line]
    assert not [line for line in lines if line in {"!.git", "!.venv", "!tests"}]


def test_every_file_the_builder_copies_is_in_the_build_context(
    dockerfile_stages: list[list[Instruction]],
) -> None:
    allowed = {
        line.strip()[1:].rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip().startswith("!")
    }
    for instruction in dockerfile_stages[1]:
        if instruction.keyword == "COPY" and "--from" not in instruction.arguments:
            for source in shlex.split(instruction.arguments)[:-1]:
                assert source.rstrip("/") in allowed, f"{source} is not in the build context"


def test_the_wheel_packages_are_all_copied_into_the_builder(
    dockerfile_stages: list[list[Instruction]],
) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = " ".join(_only(dockerfile_stages[1], "COPY"))
    for package in packages:
        assert package in copied
    assert "pyproject.toml" in copied
    assert project["project"]["readme"] in copied


# ---------------------------------------------------------------- docker-compose.yml


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def test_compose_has_the_five_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", "redis", "migrate", "api", "worker"}
    assert compose["services"]["worker"]["command"] in (
        ["worker"],
        "worker",
        ["inventory", "worker"],
    )
    assert compose["services"]["postgres"]["image"] == "postgres:16"
    assert compose["services"]["redis"]["image"] == "redis:7"


@pytest.mark.parametrize("name", ["postgres", "redis"])
def test_the_servers_have_health_checks(compose: dict[str, Any], name: str) -> None:
    check = compose["services"][name]["healthcheck"]
    assert check["test"][0] in {"CMD", "CMD-SHELL"}
    assert check.get("disable") is not True


def test_postgres_keeps_its_data_in_a_named_volume(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["postgres"]["volumes"]
    named = [v.split(":")[0] for v in volumes if v.split(":")[1] == "/var/lib/postgresql/data"]
    assert named
    assert named[0] in compose["volumes"]


def test_the_api_starts_after_the_servers_and_the_migration(compose: dict[str, Any]) -> None:
    depends = compose["services"]["api"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    migrate = compose["services"]["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert str(migrate.get("restart", "no")) == "no", "a one-shot service must not restart"


def test_the_api_reads_env_and_publishes_8000(compose: dict[str, Any]) -> None:
    for name in ("migrate", "api"):
        env_file = compose["services"][name]["env_file"]
        assert env_file == ".env" or ".env" in env_file
        environment = compose["services"][name]["environment"]
        assert environment["INVENTORY_DATABASE_URL"].startswith("postgresql://")
        assert "@postgres:5432/" in environment["INVENTORY_DATABASE_URL"]
        assert environment["INVENTORY_REDIS_URL"].startswith("redis://redis:6379/")
    api = compose["services"]["api"]
    assert [p for p in api["ports"] if str(p).endswith(":8000")]
    assert api["environment"]["INVENTORY_BIND"] == "0.0.0.0:8000"


def test_compose_documents_the_cookie_setting_for_plain_http() -> None:
    assert "INVENTORY_COOKIE_SECURE" in COMPOSE.read_text()


def test_compose_holds_no_password() -> None:
    text = COMPOSE.read_text()
    for raw_line in text.splitlines():
        if raw_line.lstrip().startswith("#"):
            continue
        line = re.sub(r"\$\{[^}]*\}", "$VAR", raw_line)  # interpolated from .env: fine
        if "PASSWORD" in line or "postgresql://" in line:
            # Only interpolated from .env, never written here.
            assert not re.search(r"PASSWORD:\s*[^$\s]", line), line
            assert not re.search(r"postgresql://[^:@]+:[^$@]+@", line), line


def test_compose_requires_the_idempotency_secret_from_env(compose: dict[str, Any]) -> None:
    # The API refuses to start on a database without it; compose says so before starting.
    for name in ("migrate", "api"):
        value = compose["services"][name]["environment"]["INVENTORY_IDEMPOTENCY_SECRET"]
        assert value.startswith("${INVENTORY_IDEMPOTENCY_SECRET:?"), value


def test_variables_compose_requires_are_in_env_example() -> None:
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE.read_text()))
    listed = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert required <= listed, f".env.example lacks {sorted(required - listed)}"


# ---------------------------------------------------------------- the commands they run


def _commands(compose: dict[str, Any], stages: list[list[Instruction]]) -> list[list[str]]:
    commands = [
        service["command"] for service in compose["services"].values() if "command" in service
    ]
    commands = [c if isinstance(c, list) else shlex.split(c) for c in commands]
    for instruction in stages[-1]:
        if instruction.keyword == "CMD":
            commands.append(yaml.safe_load(instruction.arguments))  # exec form is a JSON list
    return commands


def test_the_commands_run_are_real_subcommands(
    compose: dict[str, Any], dockerfile_stages: list[list[Instruction]]
) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["inventory"] == "inventory_http.cli:main"
    ours = [c for c in _commands(compose, dockerfile_stages) if c[0] == "inventory"]
    run = {tuple(c) for c in ours}
    assert ("inventory", "serve") in run
    assert ("inventory", "migrate") in run
    parser = build_parser()
    for command in ours:
        try:
            parser.parse_args(command[1:])
        except SystemExit:
            pytest.fail(f"`{shlex.join(command)}` is not a valid inventory command")


def test_the_image_default_command_serves(dockerfile_stages: list[list[Instruction]]) -> None:
    (cmd,) = _only(dockerfile_stages[-1], "CMD")
    assert yaml.safe_load(cmd) == ["inventory", "serve"]
