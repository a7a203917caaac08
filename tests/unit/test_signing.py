"""Webhook signing: what we sign verifies with the Standard Webhooks reference library (and any
change to the body, id, timestamp or secret does not), the secret's format, and bad inputs."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from inventory_core.signing import new_secret, signature, signed_headers

BODY = b'{"id":"evt_1","type":"item.updated","data":{"name":"caf\xc3\xa9 \\u2603"}}'
MSG_ID = "0190b6a4-6c1e-7d7e-9a53-5f5b0c7e1c2d"

Tamper = Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]]


def _now() -> int:
    # The reference library refuses timestamps more than 5 minutes from its clock.
    return int(time.time())


def test_our_signature_verifies_with_the_standardwebhooks_library() -> None:
    secret = new_secret()
    headers = signed_headers(secret, MSG_ID, _now(), BODY)
    assert Webhook(secret).verify(BODY, headers) == {
        "id": "evt_1",
        "type": "item.updated",
        "data": {"name": "caf\u00e9 \u2603"},
    }


def test_the_specifications_published_example_signs_the_same() -> None:
    # The example used across the Standard Webhooks libraries' test suites.
    assert (
        signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_the_headers_are_the_three_standard_ones() -> None:
    secret = new_secret()
    timestamp = _now()
    headers = signed_headers(secret, MSG_ID, timestamp, BODY)
    assert headers == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, MSG_ID, timestamp, BODY),
    }
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", headers["webhook-signature"])


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda body, headers: (body + b" ", headers), id="body appended"),
        pytest.param(lambda body, headers: (body.replace(b"evt_1", b"evt_2"), headers), id="body"),
        pytest.param(
            lambda body, headers: (
                body,
                {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)},
            ),
            id="timestamp",
        ),
        pytest.param(
            lambda body, headers: (body, {**headers, "webhook-id": MSG_ID + "x"}), id="id"
        ),
    ],
)
def test_a_tampered_request_fails_verification(tamper: Tamper) -> None:
    secret = new_secret()
    headers = signed_headers(secret, MSG_ID, _now(), BODY)
    body, changed = tamper(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, changed)


def test_another_secret_fails_verification() -> None:
    headers = signed_headers(new_secret(), MSG_ID, _now(), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_secrets_are_whsec_and_base64_of_32_random_bytes() -> None:
    secrets_ = {new_secret() for _ in range(200)}
    assert len(secrets_) == 200
    for secret in secrets_:
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


def test_the_key_is_the_decoded_bytes_and_padding_is_optional() -> None:
    key = bytes(range(32))
    padded = "whsec_" + base64.b64encode(key).decode()
    assert padded.endswith("=")
    timestamp = _now()
    assert signature(padded, MSG_ID, timestamp, BODY) == signature(
        padded.rstrip("="), MSG_ID, timestamp, BODY
    )
    # The reference library decodes secrets the same way, so it accepts either spelling too.
    headers = signed_headers(padded.rstrip("="), MSG_ID, timestamp, BODY)
    Webhook(padded).verify(BODY, headers)


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "whsec_",
        "whsec_not base64!",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwA",  # a character too many: not base64
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",  # a character short: 23 bytes, too few
        "whsec_" + base64.b64encode(b"too short").decode(),
        "whsec_" + base64.b64encode(bytes(65)).decode(),
        "whsec_" + base64.urlsafe_b64encode(b"\xfb" * 32).decode(),  # the URL-safe alphabet
    ],
)
def test_a_malformed_secret_is_a_value_error(secret: str) -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        signature(secret, MSG_ID, _now(), BODY)


@pytest.mark.parametrize("msg_id", ["", "has space", "line\r\nbreak", "caf\u00e9"])
def test_an_id_that_cannot_be_a_header_value_is_refused(msg_id: str) -> None:
    with pytest.raises(ValueError, match="message id"):
        signed_headers(new_secret(), msg_id, _now(), BODY)


@pytest.mark.parametrize("timestamp", [-1, True, 1.5, "1614265330"])
def test_a_timestamp_is_whole_non_negative_seconds(timestamp: object) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        signature(new_secret(), MSG_ID, timestamp, BODY)  # type: ignore[arg-type]


def test_the_body_is_bytes() -> None:
    with pytest.raises(TypeError, match="bytes"):
        signature(new_secret(), MSG_ID, _now(), BODY.decode())  # type: ignore[arg-type]
