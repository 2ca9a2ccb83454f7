"""Database: the async engine built from config, and the per-request connection unit of work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from arkos.config import DatabaseConfig
from arkos.pglane import PgReadLane, pg_lane_for
from arkos.readlane import ReadLane, lane_for


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; LIKE is case-insensitive by default, which would make
    # `contains` differ between SQLite and PostgreSQL.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA case_sensitive_like=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _ping_on_checkout(timeout: float) -> Callable[[Any, Any, Any], None]:
    """A pooled connection that died (PostgreSQL restarted, a proxy cut it) is replaced before a request
    uses it: SQLAlchemy's documented checkout-event check, as one simple-protocol round trip (no
    prepared statement, so PgBouncer's transaction mode is fine too), bounded by the connect timeout (a
    host that drops packets). Raising DisconnectionError makes the pool reconnect this connection and
    run the check again."""

    def ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        try:
            dbapi_connection.run_async(lambda conn: conn.execute("SELECT 1", timeout=timeout))
        except Exception as exc:
            raise sa_exc.DisconnectionError(f"connection check failed: {type(exc).__name__}") from exc

    return ping


class Database:
    """Owns the engine; `connect()` gives the connection a request works in."""

    def __init__(self, config: DatabaseConfig) -> None:
        self.config = config
        self.url = config.url
        self.is_sqlite = config.url.startswith("sqlite")
        self.is_postgresql = config.url.startswith("postgresql")
        self._server_settings: dict[str, str] = {}
        if config.statement_timeout_ms:
            self._server_settings["statement_timeout"] = str(config.statement_timeout_ms)
        if config.schema_name:
            self._server_settings["search_path"] = config.schema_name
        self.engine: AsyncEngine = self._create_engine()
        self.read_lane: ReadLane | PgReadLane | None = self._read_lane()

    def _read_lane(self) -> ReadLane | PgReadLane | None:
        cfg = self.config
        if cfg.echo:  # someone reading the SQL log should see every statement
            return None
        if self.is_sqlite:
            return lane_for(self.engine) if cfg.sqlite_read_lane else None
        if cfg.postgresql_read_lane:
            return pg_lane_for(self.engine, max_size=cfg.read_lane_connections,
                               acquire_timeout=cfg.pool_timeout_seconds, server_settings=self._server_settings,
                               connect_timeout=cfg.connect_timeout_seconds)
        return None

    def _create_engine(self) -> AsyncEngine:
        cfg = self.config
        # Statement parameters (password hashes, tokens) never appear in error messages or logs.
        kwargs: dict[str, Any] = {"echo": cfg.echo, "hide_parameters": True}
        if self.is_sqlite:
            if ":memory:" in cfg.url or cfg.url.endswith("://"):
                kwargs["poolclass"] = NullPool
        else:
            kwargs.update(
                pool_size=cfg.pool_size,
                max_overflow=cfg.max_overflow,
                pool_timeout=cfg.pool_timeout_seconds,
                # Checked on checkout by _ping_on_checkout below, not by pool_pre_ping: on asyncpg the
                # latter is three round trips (BEGIN; `;`; ROLLBACK) per request that writes.
                pool_pre_ping=False,
            )
            server_settings = self._server_settings
            # A host that drops packets instead of refusing them must not hold a request for asyncpg's 60 s.
            kwargs["connect_args"] = {"timeout": cfg.connect_timeout_seconds,
                                      **({"server_settings": server_settings} if server_settings else {})}
        engine = create_async_engine(cfg.url, **kwargs)
        if self.is_sqlite:
            event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        else:
            event.listen(engine.sync_engine, "checkout", _ping_on_checkout(cfg.connect_timeout_seconds))
        return engine

    def connect(self) -> AsyncConnection:
        return self.engine.connect()

    async def create_all(self, metadata: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def dispose(self) -> None:
        if self.read_lane is not None:
            await self.read_lane.aclose()
        await self.engine.dispose()
