"""Server-side token revocation (logout, DECISIONS 4): a deny-list by `jti` until the token expires."""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from arkos.auth.models import revoked_tokens


class RevocationStore(Protocol):
    """Where revoked token ids live; `check_in_sql` says whether the user query can check it in one trip."""

    check_in_sql: bool

    async def revoke(self, conn: AsyncConnection, token_id: str, expires_at: float) -> None: ...

    async def is_revoked(self, token_id: str) -> bool: ...


class DatabaseRevocations:
    """The default: a table, checked inside the same query that loads the user."""

    check_in_sql = True

    async def revoke(self, conn: AsyncConnection, token_id: str, expires_at: float) -> None:
        expires = dt.datetime.fromtimestamp(expires_at, dt.UTC)
        await conn.execute(sa.insert(revoked_tokens).values(jti=token_id, expires_at=expires))
        # Keep the table small: expired entries can no longer matter.
        await conn.execute(sa.delete(revoked_tokens).where(revoked_tokens.c.expires_at < dt.datetime.now(dt.UTC)))

    async def is_revoked(self, token_id: str) -> bool:  # pragma: no cover - answered in SQL
        raise NotImplementedError

    @staticmethod
    def revoked_clause(token_id: str) -> sa.ColumnElement[bool]:
        return sa.exists().where(revoked_tokens.c.jti == token_id)


class RedisRevocations:
    """With Redis configured: one key per revoked token, expiring with it; shared by every worker and host."""

    check_in_sql = False

    def __init__(self, client: object, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    async def revoke(self, conn: AsyncConnection, token_id: str, expires_at: float) -> None:
        ttl = max(int(expires_at - time.time()) + 1, 1)
        await self._client.set(f"{self._prefix}revoked:{token_id}", b"1", ex=ttl)  # type: ignore[attr-defined]

    async def is_revoked(self, token_id: str) -> bool:
        return bool(await self._client.exists(f"{self._prefix}revoked:{token_id}"))  # type: ignore[attr-defined]
