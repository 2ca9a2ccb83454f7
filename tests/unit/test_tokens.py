"""Access tokens (DECISIONS 2): PyJWT HS256, algorithm pinned, exp/iat/jti/typ required, sub-second iat."""

from __future__ import annotations

import base64
import json
import math
import time
from typing import Any

import jwt
import pytest

from arkos.auth.tokens import TokenService
from arkos.config import JwtConfig
from arkos.errors import ArkosError

# 64 bytes: long enough for HS512 too, so PyJWT raises no key-length warning.
SECRET = "unit-test-secret-" + "k" * 47
OTHER_SECRET = "another-secret-" + "z" * 49


def service(**options: Any) -> TokenService:
    return TokenService(JwtConfig(secret=SECRET, **options))


def valid_payload(**changes: Any) -> dict[str, Any]:
    now = time.time()
    payload: dict[str, Any] = {"id": "user-1", "iat": now, "exp": int(now) + 3600, "jti": "a" * 32,
                               "typ": "access"}
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def assert_invalid(tokens: TokenService, token: str) -> None:
    with pytest.raises(ArkosError) as caught:
        tokens.decode(token)
    assert caught.value.status == 401
    assert caught.value.code == "InvalidAuthToken"
    assert caught.value.message == "Your auth token is invalid, please login again."


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_issue_uses_hs256_and_carries_id_iat_exp_jti_and_type() -> None:
    token, issued = service().issue("user-1")
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    payload = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert payload["id"] == "user-1"
    assert payload["typ"] == "access"
    assert set(payload) >= {"id", "iat", "exp", "jti", "typ"}
    assert payload["jti"] == issued.token_id


def test_decode_returns_the_issued_claims() -> None:
    tokens = service()
    token, issued = tokens.issue(42)
    decoded = tokens.decode(token)
    assert decoded.user_id == 42
    assert decoded.token_id == issued.token_id
    assert decoded.issued_at == issued.issued_at


def test_every_token_has_its_own_jti() -> None:
    tokens = service()
    ids = {tokens.decode(tokens.issue("u")[0]).token_id for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize(("expires_in", "seconds"), [("30d", 30 * 86400), ("1h", 3600), ("90m", 5400),
                                                     ("3600s", 3600), (3600, 3600), ("45", 45)])
def test_exp_minus_iat_is_the_configured_lifetime(expires_in: str | int, seconds: int) -> None:
    token, _ = service(expires_in=expires_in).issue("u")
    payload = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert payload["exp"] == math.floor(payload["iat"]) + seconds
    assert 0 <= seconds - (payload["exp"] - payload["iat"]) < 1


def test_iat_keeps_sub_second_precision() -> None:
    now = math.floor(time.time()) - 5 + 0.375
    tokens = service()
    token, _ = tokens.issue("u", now=now)
    raw = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert raw["iat"] == now
    assert tokens.decode(token).issued_at == now


def test_hs512_token_signed_with_the_same_secret_is_rejected() -> None:
    forged = jwt.encode(valid_payload(), SECRET, algorithm="HS512")
    assert_invalid(service(), forged)


def test_hs384_token_signed_with_the_same_secret_is_rejected() -> None:
    forged = jwt.encode(valid_payload(), SECRET, algorithm="HS384")
    assert_invalid(service(), forged)


def test_alg_none_token_is_rejected() -> None:
    unsigned = jwt.encode(valid_payload(), None, algorithm="none")
    assert_invalid(service(), unsigned)


def test_handmade_alg_none_token_with_a_signature_is_rejected() -> None:
    forged = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(valid_payload())}.c2lnbmF0dXJl"
    assert_invalid(service(), forged)


def test_configured_algorithm_is_the_only_one_accepted() -> None:
    tokens = service(algorithm="HS512")
    token, _ = tokens.issue("u")
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    assert tokens.decode(token).user_id == "u"
    assert_invalid(tokens, jwt.encode(valid_payload(), SECRET, algorithm="HS256"))


@pytest.mark.parametrize("missing", ["exp", "iat", "jti", "typ", "id"])
def test_a_token_without_a_required_claim_is_rejected(missing: str) -> None:
    payload = valid_payload()
    del payload[missing]
    assert_invalid(service(), jwt.encode(payload, SECRET, algorithm="HS256"))


@pytest.mark.parametrize("typ", ["refresh", "ACCESS", "", 1])
def test_a_token_of_another_type_is_rejected(typ: object) -> None:
    assert_invalid(service(), jwt.encode(valid_payload(typ=typ), SECRET, algorithm="HS256"))


@pytest.mark.parametrize("user_id", [True, {"$ne": 1}, ["u"], 1.5])
def test_a_token_whose_id_is_not_a_string_or_integer_is_rejected(user_id: object) -> None:
    assert_invalid(service(), jwt.encode(valid_payload(id=user_id), SECRET, algorithm="HS256"))


def test_a_token_signed_with_another_secret_is_rejected() -> None:
    assert_invalid(service(), jwt.encode(valid_payload(), OTHER_SECRET, algorithm="HS256"))


def test_a_tampered_payload_is_rejected() -> None:
    token, _ = service().issue("user-1")
    header, payload, signature = token.split(".")
    changed = jwt.decode(token, SECRET, algorithms=["HS256"]) | {"id": "admin"}
    assert_invalid(service(), f"{header}.{b64(changed)}.{signature}")


def test_a_tampered_signature_is_rejected() -> None:
    token, _ = service().issue("user-1")
    head, _, signature = token.rpartition(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert_invalid(service(), f"{head}.{flipped}")


def test_an_expired_token_is_rejected() -> None:
    tokens = service(expires_in="1h")
    token, _ = tokens.issue("u", now=time.time() - 7200)
    assert_invalid(tokens, token)


def test_a_token_issued_in_the_future_is_rejected() -> None:
    future = time.time() + 3600
    payload = valid_payload(iat=future, exp=int(future) + 3600)
    assert_invalid(service(), jwt.encode(payload, SECRET, algorithm="HS256"))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x", "e30.e30.e30"])
def test_garbage_is_rejected(garbage: str) -> None:
    assert_invalid(service(), garbage)


def test_without_a_secret_issuing_fails_with_missing_jwt_secret() -> None:
    tokens = TokenService(JwtConfig())
    assert tokens.has_secret is False
    with pytest.raises(ArkosError) as caught:
        tokens.issue("u")
    assert caught.value.status == 500
    assert caught.value.code == "MissingJwtSecret"
    assert "JWT_SECRET" in caught.value.message


def test_without_a_secret_every_token_is_invalid() -> None:
    token = jwt.encode(valid_payload(), SECRET, algorithm="HS256")
    assert_invalid(TokenService(JwtConfig()), token)
