"""API tokens: the secret's format and entropy, its digest, the name rule (and that its JSON
Schema says the same), the entity's checks, and that no secret reaches a repr or fingerprint."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import attrs
import pytest

from inventory_core.errors import AuthenticationFailed, ValidationError
from inventory_core.executor import command_fingerprint
from inventory_core.services.tokens import INVALID_TOKEN, AuthenticateToken, IssuedToken
from inventory_core.tokens import (
    MAX_TOKEN_NAME,
    TOKEN_NAME,
    TOKEN_PREFIX,
    TOKEN_TOUCH_INTERVAL,
    ApiToken,
    looks_like_token,
    new_token_secret,
    token_digest,
)
from inventory_core.users import Role

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _token(**changes: object) -> ApiToken:
    fields: dict[str, object] = {
        "id": uuid4(),
        "user_id": uuid4(),
        "name": "ci",
        "role": Role.CLERK,
        "digest": token_digest(new_token_secret()),
        "created_at": NOW,
        "expires_at": None,
        "last_used_at": None,
    }
    return ApiToken(**{**fields, **changes})  # type: ignore[arg-type]


def test_secrets_are_inv_and_43_base64url_characters_of_256_random_bits() -> None:
    secrets_ = {new_token_secret() for _ in range(200)}
    assert len(secrets_) == 200
    for secret in secrets_:
        assert re.fullmatch(r"inv_[A-Za-z0-9_-]{43}", secret)
        assert secret.startswith(TOKEN_PREFIX)
        assert looks_like_token(secret)
    # 43 base64url characters carry 258 bits; the last one holds only 4 of 6 (256 in all).
    assert {s[-1] for s in secrets_} <= set("AEIMQUYcgkosw048")


def test_the_digest_is_the_sha256_of_the_secret_and_any_string_has_one() -> None:
    assert token_digest("inv_x") == hashlib.sha256(b"inv_x").hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", token_digest(""))
    assert token_digest("\ud800") != token_digest("\ud801")  # lone surrogates do not raise
    secret = new_token_secret()
    assert token_digest(secret) != secret


@pytest.mark.parametrize(
    "value",
    ["", "inv_", "inv_" + "a" * 42, "inv_" + "a" * 44, "INV_" + "a" * 43, "inv_" + "a" * 42 + "="],
)
def test_malformed_secrets_do_not_look_like_tokens(value: str) -> None:
    assert not looks_like_token(value)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("a", True),
        ("x" * MAX_TOKEN_NAME, True),
        ("ERP sync (prod) — ü", True),
        ("", False),
        ("x" * (MAX_TOKEN_NAME + 1), False),
        ("a\tb", False),
        ("a\nb", False),
        ("a\x00b", False),
        ("a\x7fb", False),
    ],
)
def test_the_name_rule_and_its_json_schema_agree(name: str, ok: bool) -> None:
    schema = TOKEN_NAME.json_schema
    by_schema = (
        schema["minLength"] <= len(name) <= schema["maxLength"]
        # Python's re reads the ECMA-262 pattern's \uXXXX escapes the same way.
        and re.search(schema["pattern"], name) is not None
    )
    by_rule = TOKEN_NAME.problem(name) is None
    assert by_rule is ok
    assert by_schema is ok


def test_the_entity_checks_its_fields() -> None:
    with pytest.raises(ValidationError):
        _token(name="x" * 101)
    with pytest.raises(ValidationError):
        _token(created_at=datetime(2026, 1, 1))  # naive, on purpose
    with pytest.raises(ValueError, match="digest"):
        _token(digest=new_token_secret())  # a secret is never what is stored
    token = _token(role="manager")
    assert token.role is Role.MANAGER
    assert "digest" not in repr(token)


def test_expiry_and_touch_boundaries() -> None:
    token = _token(expires_at=NOW + timedelta(hours=1), last_used_at=NOW)
    assert not token.expired(NOW + timedelta(hours=1) - timedelta(microseconds=1))
    assert token.expired(NOW + timedelta(hours=1))
    assert not _token().expired(NOW + timedelta(days=3650))
    assert _token().touch_due(NOW)
    assert not token.touch_due(NOW + TOKEN_TOUCH_INTERVAL)
    assert token.touch_due(NOW + TOKEN_TOUCH_INTERVAL + timedelta(microseconds=1))


def test_no_secret_reaches_a_repr_or_a_fingerprint() -> None:
    secret = new_token_secret()
    assert secret not in repr(IssuedToken(_token(digest=token_digest(secret)), secret))
    command = AuthenticateToken(secret)
    assert secret not in repr(command)
    assert command_fingerprint(command) == command_fingerprint(
        AuthenticateToken(new_token_secret())
    )


def test_the_failure_message_names_no_reason() -> None:
    assert str(AuthenticationFailed(INVALID_TOKEN)) == INVALID_TOKEN
    assert not any(word in INVALID_TOKEN for word in ("revoked", "unknown", "malformed", "user"))


def test_tokens_are_frozen() -> None:
    token = _token()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        token.role = Role.ADMIN  # type: ignore[misc]
