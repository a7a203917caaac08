"""INVENTORY_TRUSTED_PROXIES: which address the login throttle and the access log use."""

from __future__ import annotations

import io
import ipaddress
import json

import pytest

from inventory_http.logging import configure_logging
from inventory_http.middleware import client_address
from inventory_http.settings import Settings, SettingsError
from tests.http.conftest import World, build_world

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:a::/48"))


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # A peer that is no trusted proxy: the header is the client's own words, ignored.
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),
        ("203.0.113.7", None, "203.0.113.7"),
        # Behind a trusted proxy: the address it got the request from (its right-most entry).
        ("10.0.0.2", "203.0.113.7", "203.0.113.7"),
        ("10.0.0.2", "203.0.113.7 ,  ", "10.0.0.2"),  # an empty last entry: no client named
        # Whatever the client prepended is left of that, and never used.
        ("10.0.0.2", "198.51.100.66, 1.2.3.4, 203.0.113.7", "203.0.113.7"),
        # Through a chain of trusted proxies: the first address that is not one of them.
        ("10.0.0.2", "198.51.100.66, 203.0.113.7, 10.9.9.9, 10.0.0.3", "203.0.113.7"),
        # Only proxies named: the farthest one.
        ("10.0.0.2", "10.0.0.9, 10.0.0.3", "10.0.0.9"),
        # No header, or a malformed entry where the client should be: the proxy that passed it.
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "198.51.100.66, not-an-address", "10.0.0.2"),
        ("10.0.0.2", "203.0.113.7, unknown, 10.0.0.3", "10.0.0.3"),
        # IPv6, normalized; IPv4-mapped addresses count as IPv4.
        ("2001:db8:a::1", "2001:DB8:0:0::00ff", "2001:db8::ff"),
        ("::ffff:10.0.0.2", "::ffff:203.0.113.7", "203.0.113.7"),
        # A peer that is no address at all (a Unix socket) is taken as it is.
        ("", "203.0.113.7", "unknown"),
        (None, "203.0.113.7", "unknown"),
    ],
)
def test_client_address(peer: str | None, forwarded_for: str | None, expected: str) -> None:
    assert client_address(peer, forwarded_for, PROXIES) == expected


def test_without_trusted_proxies_the_header_is_always_ignored() -> None:
    assert client_address("10.0.0.2", "203.0.113.7", ()) == "10.0.0.2"
    assert client_address("127.0.0.1", "203.0.113.7", ()) == "127.0.0.1"


# ---------------------------------------------------------------- the setting


def test_the_setting_takes_cidrs_and_addresses_normalized() -> None:
    env = {"INVENTORY_TRUSTED_PROXIES": " 10.0.0.0/8, 192.0.2.7 ,,2001:DB8::/32 "}
    settings = Settings.from_env(env)
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32")
    assert Settings.from_env({}).trusted_proxies == ()
    assert Settings.from_env({"INVENTORY_TRUSTED_PROXIES": ""}).trusted_proxies == ()


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("10.0.0.0/33", ""),
        ("proxy.internal", ""),
        ("10.0.0.0/8, *", ""),
        ("192.168.1.10/24", " (did you mean 192.168.1.0/24?)"),
    ],
)
def test_a_bad_cidr_is_a_clear_settings_error(raw: str, hint: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"INVENTORY_TRUSTED_PROXIES": raw})
    message = str(raised.value)
    assert message.startswith("INVENTORY_TRUSTED_PROXIES takes CIDRs or addresses")
    if hint:
        assert message.endswith(hint)
    else:
        assert "did you mean" not in message


# ---------------------------------------------------------------- the throttle and the log


def _fail_logins(world: World, count: int, client: str, proxy: str = "10.0.0.2") -> list[int]:
    """``count`` wrong logins (each for another username) sent by ``client`` via ``proxy``."""
    api = world.client()
    return [
        api.client.simulate_post(
            "/v1/session",
            json={"username": f"nobody{n}", "password": "wrong-password-1"},
            headers={"X-Forwarded-For": f"198.51.100.200, {client}"},  # the left one is forged
            remote_addr=proxy,
        ).status_code
        for n in range(count)
    ]


def test_behind_a_trusted_proxy_each_client_is_throttled_on_its_own() -> None:
    world = build_world(Settings(cookie_secure=False, trusted_proxies=("10.0.0.0/8",)))
    free = world.throttle.policy.client.free_failures
    assert _fail_logins(world, free + 1, "203.0.113.7") == [401] * free + [429]
    # Another client behind the same proxy is not slowed down by the first one's failures.
    assert _fail_logins(world, 1, "203.0.113.8") == [401]
    # Nor is the first one helped by forging another address left of what the proxy wrote.
    assert _fail_logins(world, 1, "203.0.113.7") == [429]


def test_without_trusted_proxies_a_forwarded_address_buys_nothing() -> None:
    world = build_world(Settings(cookie_secure=False))
    free = world.throttle.policy.client.free_failures
    assert _fail_logins(world, free, "203.0.113.7") == [401] * free
    # All came from the proxy's address, whatever they claim: the next one waits.
    assert _fail_logins(world, 1, "203.0.113.8") == [429]


def test_the_access_log_names_the_same_client() -> None:
    world = build_world(Settings(cookie_secure=False, trusted_proxies=("10.0.0.0/8",)))
    stream = io.StringIO()
    configure_logging("INFO", stream)
    client = world.client().client
    client.simulate_get(
        "/healthz", headers={"X-Forwarded-For": "203.0.113.7"}, remote_addr="10.1.1.1"
    )
    client.simulate_get(
        "/healthz", headers={"X-Forwarded-For": "203.0.113.7"}, remote_addr="192.0.2.1"
    )
    access = [
        record
        for record in map(json.loads, stream.getvalue().splitlines())
        if record["logger"] == "inventory_http.access"
    ]
    assert [r["client"] for r in access] == ["203.0.113.7", "192.0.2.1"]
