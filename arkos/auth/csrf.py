"""CSRF for cookie-authenticated requests: an unsafe method must come from a trusted origin (DECISIONS 12).

SameSite=None (the production default) alone is no defence. A request authenticated by the
Authorization header is not exposed (browsers never add it by themselves) and is not checked.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from arkos.config import ArkosConfig
from arkos.errors import ArkosError, ErrorCode

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class OriginCheck:
    def __init__(self, config: ArkosConfig) -> None:
        self.enabled = config.csrf.enabled
        trusted = list(config.csrf.trusted_origins) + list(config.cors.allow_origins or ())
        self.trusted = {self._origin(o) for o in trusted}
        self.regex = config.cors_origin_regex  # the same origins CORS lets in

    @staticmethod
    def _origin(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    def check(self, request: Request) -> None:
        if not self.enabled or request.method in SAFE_METHODS:
            return
        source = request.headers.get("origin")
        if not source or source == "null":
            referer = request.headers.get("referer")
            source = self._origin(referer) if referer else None
        if not source:
            raise ArkosError(ErrorCode.CSRF_FAILED, meta={"reason": "no Origin or Referer header"})
        origin = self._origin(source)
        host = request.headers.get("host", "").lower()
        if urlsplit(origin).netloc == host or origin in self.trusted:
            return
        if self.regex:
            import re

            if re.fullmatch(self.regex, origin):
                return
        raise ArkosError(ErrorCode.CSRF_FAILED, meta={"origin": origin})
