""".env.example lists every INVENTORY_* variable the settings and the command read."""

from __future__ import annotations

import re
from pathlib import Path

from inventory_http.settings import Settings
from inventory_http.wiring import PASSWORD_ENV

ROOT = Path(__file__).resolve().parents[2]


class RecordingEnv(dict[str, str]):
    """An environment that remembers every name looked up in it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)


def documented() -> set[str]:
    text = (ROOT / ".env.example").read_text("utf-8")
    return set(re.findall(r"^#?(INVENTORY_[A-Z_]+)=", text, flags=re.MULTILINE))


def test_every_setting_is_in_env_example() -> None:
    env = RecordingEnv()
    Settings.from_env(env)
    assert len(env.asked) > 10  # the recording works
    missing = {name for name in env.asked if name.startswith("INVENTORY_")} - documented()
    assert not missing


def test_env_example_lists_nothing_that_is_not_read() -> None:
    env = RecordingEnv()
    Settings.from_env(env)
    read = env.asked | {PASSWORD_ENV, "INVENTORY_TEST_DATABASE_URL", "INVENTORY_TEST_REDIS_URL"}
    assert documented() - read == set()
