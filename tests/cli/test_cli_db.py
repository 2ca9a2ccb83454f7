"""`arkos db`: push creates the tables; migrate/upgrade/downgrade drive Alembic against a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Cli


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    conn.close()
    return {name for (name,) in rows}


def columns(db: Path, table: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"PRAGMA table_info({table})").fetchall()
    conn.close()
    return {row[1] for row in rows}


def test_push_creates_model_and_arkos_tables(cli: Cli, shop: Path) -> None:
    result = cli.invoke("db", "push")
    assert result.exit_code == 0, result.output
    assert "arkos_revoked_token, product" in result.output
    assert tables(shop / "shop.db") == {"product", "arkos_revoked_token"}
    again = cli.invoke("db", "push")
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_push_without_models_warns(cli: Cli, tmp_path: Path) -> None:
    result = cli.invoke("db", "push", env={"DATABASE_URL": "sqlite:///./bare.db"})
    assert result.exit_code == 0, result.output
    assert "No models found" in result.output
    assert tables(tmp_path / "bare.db") == {"arkos_revoked_token"}


def test_migrate_then_upgrade(cli: Cli, shop: Path) -> None:
    db = shop / "shop.db"
    first = cli.invoke("db", "migrate", "-m", "create products")
    assert first.exit_code == 0, first.output
    assert (shop / "migrations" / "env.py").is_file()
    assert "target_metadata = [*metadata_of(resolve_models(settings)), arkos_metadata]" in (
        shop / "migrations" / "env.py").read_text()
    [revision] = (shop / "migrations" / "versions").glob("*_create_products.py")
    assert "op.create_table('product'" in revision.read_text()
    assert "op.create_table('arkos_revoked_token'" in revision.read_text()
    assert "product" not in (tables(db) if db.exists() else set())

    upgrade = cli.invoke("db", "upgrade")
    assert upgrade.exit_code == 0, upgrade.output
    assert "Running upgrade" in upgrade.output
    assert {"product", "arkos_revoked_token", "alembic_version"} <= tables(db)

    # A model change becomes a second revision (batch mode on SQLite), applied by upgrade.
    models = shop / "shop" / "models.py"
    models.write_text(models.read_text() + "    price: Mapped[int | None] = mapped_column(default=None)\n")
    second = cli.invoke("db", "migrate", "-m", "add price")
    assert second.exit_code == 0, second.output
    [change] = (shop / "migrations" / "versions").glob("*_add_price.py")
    assert "add_column(sa.Column('price'" in change.read_text()
    assert cli.invoke("db", "upgrade").exit_code == 0
    assert "price" in columns(db, "product")

    down = cli.invoke("db", "downgrade", "base")
    assert down.exit_code == 0, down.output
    assert tables(db) == {"alembic_version"}


def test_migrate_refuses_when_database_is_behind(cli: Cli, shop: Path) -> None:
    assert cli.invoke("db", "migrate", "-m", "one").exit_code == 0
    result = cli.invoke("db", "migrate", "-m", "two")
    assert result.exit_code == 1
    assert "migrate failed" in result.output and "not up to date" in result.output


def test_upgrade_without_migrations_folder(cli: Cli, shop: Path) -> None:
    result = cli.invoke("db", "upgrade")
    assert result.exit_code == 1
    assert "arkos db migrate" in result.output


def test_upgrade_in_a_real_process(cli: Cli, shop: Path) -> None:
    assert cli.invoke("db", "migrate", "-m", "init").exit_code == 0
    upgrade = cli.run("db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert {"product", "arkos_revoked_token"} <= tables(shop / "shop.db")
