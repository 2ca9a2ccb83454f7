"""Access tokens: PyJWT with the algorithm pinned, `exp`, `iat` and `jti` required (DECISIONS 2)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from arkos.config import JwtConfig
from arkos.errors import ArkosError, ErrorCode

TOKEN_TYPE = "access"
_VERIFIED_MAX = 4096  # remembered verified tokens per TokenService; the whole memo is dropped when full


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: Any
    issued_at: float  # seconds, sub-second precision: a change in the same second must kill the token
    expires_at: float
    token_id: str


class TokenService:
    def __init__(self, config: JwtConfig) -> None:
        self._secret = config.secret.get_secret_value() if config.secret else None
        self._algorithm = config.algorithm
        self._lifetime = config.expires_in_seconds
        # token → (claims, int exp, int iat) of tokens already verified. PyJWT's decode is ~60-100 µs,
        # a third of a 403 answered without a database write; a token seen again only needs the
        # time-based checks redone (exactly PyJWT's: expired when exp <= now, immature when iat > now).
        # Revocation, account state and password changes are checked after this, on every request.
        self._verified: dict[str, tuple[Claims, int, int]] = {}

    @property
    def has_secret(self) -> bool:
        return self._secret is not None

    @property
    def lifetime_seconds(self) -> int:
        return self._lifetime

    def issue(self, user_id: Any, *, now: float | None = None) -> tuple[str, Claims]:
        if self._secret is None:
            raise ArkosError(ErrorCode.MISSING_JWT_SECRET)
        issued = time.time() if now is None else now
        claims = Claims(user_id, issued, issued + self._lifetime, uuid.uuid4().hex)
        payload = {
            "id": user_id,
            "iat": issued,
            "exp": int(claims.expires_at),
            "jti": claims.token_id,
            "typ": TOKEN_TYPE,
        }
        return jwt.encode(payload, self._secret, algorithm=self._algorithm), claims

    def decode(self, token: str) -> Claims:
        """Verify a token; every failure (signature, expiry, shape, algorithm) is one 401 InvalidAuthToken."""
        if self._secret is None:
            raise ArkosError(ErrorCode.INVALID_AUTH_TOKEN)
        seen = self._verified.get(token)
        if seen is not None:
            claims, exp, iat = seen
            now = time.time()
            if exp > now and iat <= now:
                return claims
            del self._verified[token]
            raise ArkosError(ErrorCode.INVALID_AUTH_TOKEN)
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                options={"require": ["exp", "iat", "jti"]},
            )
        except jwt.PyJWTError:
            raise ArkosError(ErrorCode.INVALID_AUTH_TOKEN) from None
        user_id, iat, jti = payload.get("id"), payload.get("iat"), payload.get("jti")
        if (
            payload.get("typ") != TOKEN_TYPE
            or not isinstance(user_id, str | int)
            or isinstance(user_id, bool)
            or not isinstance(iat, int | float)
            or not isinstance(jti, str)
        ):
            raise ArkosError(ErrorCode.INVALID_AUTH_TOKEN)
        claims = Claims(user_id, float(iat), float(payload["exp"]), jti)
        if "nbf" not in payload:  # nbf would need its own re-check: such tokens are never remembered
            if len(self._verified) >= _VERIFIED_MAX:
                self._verified.clear()
            self._verified[token] = (claims, int(payload["exp"]), int(iat))
        return claims
