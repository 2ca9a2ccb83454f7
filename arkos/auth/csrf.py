"""CSRF for cookie-authenticated requests: an unsafe method must come from a trusted origin (DECISIONS 12).

SameSite=None (the production default) alone is no defence. A request authenticated by the
Authorization header is not exposed (browsers never add it by themselves) and is not checked.

Trusted: the request's own host, `csrf.trusted_origins`, `cors.allow_origins` and the CORS origin regex
(in development with no CORS settings, local front ends on any port). The origin is taken from
`Origin`, or from `Referer` when a browser sends no (or a `null`) `Origin`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.requests import Request

from arkos.config import ArkosConfig
from arkos.errors import ArkosError, ErrorCode

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` in lower case, or None when `url` is not an http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class OriginCheck:
    def __init__(self, config: ArkosConfig) -> None:
        self.enabled = config.csrf.enabled
        configured = list(config.csrf.trusted_origins) + list(config.cors.allow_origins or ())
        self.trusted = {origin for origin in map(origin_of, configured) if origin}
        regex = config.cors_origin_regex  # the same origins CORS lets in
        self.regex = re.compile(regex, re.IGNORECASE) if regex else None

    def check(self, request: Request) -> None:
        if not self.enabled or request.method in SAFE_METHODS:
            return
        source = request.headers.get("origin")
        if not source or source == "null":
            source = request.headers.get("referer")
        if not source:
            raise ArkosError(ErrorCode.CSRF_FAILED, meta={"reason": "no Origin or Referer header"})
        origin = origin_of(source)
        if origin is None:
            raise ArkosError(ErrorCode.CSRF_FAILED, meta={"reason": "unreadable Origin or Referer header"})
        host = request.headers.get("host", "").lower()
        if (host and urlsplit(origin).netloc == host) or origin in self.trusted:
            return
        if self.regex is not None and self.regex.fullmatch(origin):
            return
        raise ArkosError(ErrorCode.CSRF_FAILED, meta={"origin": origin})
