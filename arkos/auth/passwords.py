"""bcrypt hashing and verification, always off the event loop."""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import bcrypt

from arkos.errors import ArkosError, ErrorCode

if TYPE_CHECKING:
    from arkos.crud.fields import ModelInfo


class PasswordHasher:
    """Hash and verify with bcrypt at a fixed cost; a dummy hash keeps unknown-user logins uniform in time."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        # bcrypt releases the GIL: one check per core is full speed. One more keeps a check ready when one
        # ends, so no core waits for the event loop to start the next (bench/auth_cost.py: login ÷ bare
        # bcrypt went from 1.12× to 1.09×); more would only lengthen every login.
        self._limiter = anyio.CapacityLimiter((os.cpu_count() or 1) + 1)
        self._dummy = bcrypt.hashpw(b"arkos-dummy-password", bcrypt.gensalt(rounds))

    async def hash(self, plain: str) -> str:
        hashed = await anyio.to_thread.run_sync(bcrypt.hashpw, plain.encode(), bcrypt.gensalt(self.rounds),
                                              limiter=self._limiter)
        return hashed.decode()

    async def verify(self, plain: str, hashed: str | None) -> bool:
        """Check a password; with no hash (unknown user) it still spends one bcrypt check, then fails."""
        target = hashed.encode() if hashed else self._dummy
        try:
            ok = await anyio.to_thread.run_sync(bcrypt.checkpw, plain.encode(), target, limiter=self._limiter)
        except ValueError:  # a malformed stored hash is a failed check, never a 500
            return False
        return ok and hashed is not None

    async def prepare_values(self, info: ModelInfo, values: dict[str, Any], *, updating: bool) -> dict[str, Any]:
        """Hash every password field in `values`; an update of a user's password also stamps
        `password_changed_at`, which kills every token issued before it (DECISIONS 3)."""
        password_fields = [f for f in info.fields.values() if f.is_password and f.key in values]
        if not password_fields:
            return values
        prepared = dict(values)
        for f in password_fields:
            prepared[f.key] = await self.hash(prepared[f.key])
        changed = info.fields.get("passwordChangedAt")
        if updating and changed is not None:
            prepared[changed.key] = utcnow()
        return prepared


def check_strength(password: str, regex: str, message: str, *, field: str) -> None:
    """`authentication.password_regex`, wherever a person chooses a password (signup, update-password,
    `arkos users create`); 400 PasswordRequirements naming the field otherwise."""
    if not _pattern(regex).search(password):
        raise ArkosError(ErrorCode.PASSWORD_REQUIREMENTS, message, meta={"field": field})


@functools.lru_cache(maxsize=8)
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
