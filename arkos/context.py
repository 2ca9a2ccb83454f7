"""RequestContext: what every pipeline stage, hook and interceptor receives for one request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

if TYPE_CHECKING:
    from arkos.app import Runtime
    from arkos.auth.principal import Principal
    from arkos.crud.fields import ModelInfo
    from arkos.errors import ArkosError
    from arkos.pglane import PgReadLane
    from arkos.readlane import ReadLane


@dataclass(slots=True, eq=False)
class RequestContext:
    """One request's state. Interceptors may change `body` (before) and `data`/`status` (after)."""

    request: Request
    runtime: Runtime
    operation: str
    model: ModelInfo | None = None
    user: Principal | None = None
    token_id: str | None = None
    token_expires_at: float | None = None
    body: Any = None
    query: Any = None
    data: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    error: ArkosError | None = None
    additional: dict[str, Any] = field(default_factory=dict)
    _connection: AsyncConnection | None = None
    _after_commit: list[Callable[[], Awaitable[None]]] | None = None

    def on_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` once the request's transaction has committed (never after a rollback)."""
        if self._after_commit is None:
            self._after_commit = []
        self._after_commit.append(callback)

    async def connection(self) -> AsyncConnection:
        """The request's connection, opened on first use; the pipeline commits or rolls it back as a unit."""
        if self._connection is None:
            self._connection = await self.runtime.database.engine.connect()
        return self._connection

    @property
    def holds_connection(self) -> bool:
        return self._connection is not None

    async def read_apart(self, statement: Any, params: Mapping[str, Any] | None = None) -> Sequence[Any]:
        """Rows of a read that leaves no connection held when the request has none open yet (it goes back
        to the pool at once), so that a slow step after it, such as bcrypt, keeps no connection busy."""
        if self._connection is not None:
            return (await self._connection.execute(statement, params)).all()
        async with self.runtime.database.engine.connect() as conn:
            return (await conn.execute(statement, params)).all()

    def read_lane(self) -> ReadLane | PgReadLane | None:
        """The read lane (SQLite's or PostgreSQL's) while the request has opened no connection (nothing of
        its own uncommitted)."""
        return self.runtime.database.read_lane if self._connection is None else None

    async def reader(self) -> AsyncConnection | ReadLane | PgReadLane:
        """Where a prebuilt read runs: the read lane when there is one, else the request's connection."""
        return self.read_lane() or await self.connection()

    async def finish(self, *, commit: bool) -> None:
        conn, self._connection = self._connection, None
        if conn is not None:
            try:
                if conn.in_transaction():
                    if commit:
                        await conn.commit()
                    else:
                        await conn.rollback()
            finally:
                await conn.close()
        callbacks, self._after_commit = self._after_commit, None
        if commit and callbacks:
            for callback in callbacks:
                await callback()
