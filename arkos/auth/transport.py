"""Where the token travels: read from `Authorization: Bearer` first, then the cookie (reference §1.6)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from arkos.config import ArkosConfig

COOKIE_NAME = "arkos_access_token"
LOGGED_OUT = "no-token"


def read_token(request: Request) -> tuple[str | None, str]:
    """The request's token and where it came from; a Bearer header wins even when it is bad."""
    for name, value in request.scope["headers"]:  # the raw list (lower-case names): no Headers object
        if name == b"authorization":
            if value.startswith(b"Bearer "):
                token = value[7:].strip()
                if token:
                    return token.decode("latin-1"), "header"
            break
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie and cookie != LOGGED_OUT:
        return cookie, "cookie"
    return None, ""


def cookie_attributes(config: ArkosConfig) -> dict[str, Any]:
    """The attributes the cookie is set with; logout clears it with the very same ones (DECISIONS 4)."""
    cookie = config.authentication.jwt.cookie
    return {
        "httponly": cookie.http_only,
        "secure": config.cookie_secure,
        "samesite": config.cookie_same_site,
        "domain": cookie.domain,
        "path": "/",
    }


class TokenDelivery:
    """`send_access_token_through`: body, cookie or both, decided once from config."""

    def __init__(self, config: ArkosConfig) -> None:
        through = config.authentication.login.send_access_token_through
        self.in_body = through in {"both", "response-only"}
        self.in_cookie = through in {"both", "cookie-only"}
        self.attributes = cookie_attributes(config)
        self.max_age = config.authentication.jwt.expires_in_seconds

    def login_cookies(self, token: str) -> list[tuple[str, str, dict[str, Any]]]:
        if not self.in_cookie:
            return []
        return [(COOKIE_NAME, token, {**self.attributes, "max_age": self.max_age})]

    def logout_cookies(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(COOKIE_NAME, "", {**self.attributes, "max_age": 0, "expires": 0})]
