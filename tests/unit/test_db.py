"""The database layer never puts statement parameters (password hashes, tokens) into errors or logs."""

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from arkos.config import DatabaseConfig
from arkos.db import Database


async def test_errors_hide_statement_parameters(tmp_path: Path) -> None:
    database = Database(DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"))
    table = sa.Table("secrets", sa.MetaData(), sa.Column("value", sa.String, unique=True))
    secret = "$2b$12$this-looks-like-a-bcrypt-hash-and-must-not-leak"
    try:
        async with database.engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
            await conn.execute(sa.insert(table).values(value=secret))
        with pytest.raises(sa_exc.IntegrityError) as caught:
            async with database.engine.begin() as conn:
                await conn.execute(sa.insert(table).values(value=secret))
        assert secret not in str(caught.value)
    finally:
        await database.dispose()
