"""`arkos users create`: flags or prompts, hashed like signup, clear messages when it cannot."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Cli


@pytest.fixture
def project(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`arkos new` output, with its tables pushed."""
    assert cli.invoke("new", "club").exit_code == 0
    root = tmp_path / "club"
    monkeypatch.chdir(root)
    assert cli.invoke("db", "push").exit_code == 0
    return root


def user_row(root: Path, username: str) -> dict[str, object]:
    with sqlite3.connect(root / "app.db") as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute('SELECT * FROM "user" WHERE username = ?', (username,)).fetchone()
    conn.close()
    return dict(row) if row else {}


def test_create_with_flags(cli: Cli, project: Path) -> None:
    result = cli.invoke("users", "create", "--username", "root", "--password", "Secret123", "--superuser",
                        "--role", "Admin", "--email", "root@example.com", "--field", "isStaff=true")
    assert result.exit_code == 0, result.output
    assert "Created user root" in result.output and "role Admin" in result.output
    row = user_row(project, "root")
    assert (row["role"], row["email"]) == ("Admin", "root@example.com")
    assert (row["is_super_user"], row["is_staff"]) == (1, 1)
    assert str(row["password"]).startswith("$2") and "Secret123" not in result.output
    assert cli.auth(project, "root", "Secret123", signup=False) == ["200", "True"]


def test_prompts_for_missing_username_and_password(cli: Cli, project: Path) -> None:
    result = cli.invoke("users", "create", input="bob\nPass1234\nPass1234\n")
    assert result.exit_code == 0, result.output
    assert "Pass1234" not in result.output  # hidden input
    row = user_row(project, "bob")
    assert row["role"] == "User" and row["is_super_user"] == 0


def test_duplicate_username(cli: Cli, project: Path) -> None:
    args = ("users", "create", "--username", "ann", "--password", "Secret123")
    assert cli.invoke(*args).exit_code == 0
    result = cli.invoke(*args)
    assert result.exit_code == 1
    assert "A user named 'ann' already exists" in result.output


@pytest.mark.parametrize(("extra", "message"), [
    (["--role", "Boss"], "'role' expected one of Admin, User"),
    (["--field", "nickname=x"], "unknown field 'nickname'"),
])
def test_invalid_values(cli: Cli, project: Path, extra: list[str], message: str) -> None:
    result = cli.invoke("users", "create", "--username", "eve", "--password", "Secret123", *extra)
    assert result.exit_code == 1
    assert message in result.output
    assert user_row(project, "eve") == {}


def test_a_weak_password_is_refused_unless_allowed(cli: Cli, project: Path) -> None:
    result = cli.invoke("users", "create", "--username", "weak", "--password", "abc")
    assert result.exit_code == 1
    assert "User not created" in result.output and "--allow-weak-password" in result.output
    assert user_row(project, "weak") == {}
    result = cli.invoke("users", "create", "--username", "weak", "--password", "abc", "--allow-weak-password")
    assert result.exit_code == 0, result.output
    assert cli.auth(project, "weak", "abc", signup=False) == ["200", "True"]


def test_bad_field_syntax(cli: Cli, project: Path) -> None:
    result = cli.invoke("users", "create", "--username", "eve", "--password", "x", "--field", "novalue")
    assert result.exit_code == 2
    assert "key=value" in result.output


def test_missing_table_asks_for_push(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.invoke("new", "fresh").exit_code == 0
    monkeypatch.chdir(tmp_path / "fresh")
    result = cli.invoke("users", "create", "--username", "a", "--password", "Secret123")
    assert result.exit_code == 1
    assert "The table 'user' does not exist yet: run `arkos db push`" in result.output
    assert isinstance(result.exception, SystemExit)


def test_project_without_user_model(cli: Cli, shop: Path) -> None:
    result = cli.invoke("users", "create", "--username", "a", "--password", "Secret123")
    assert result.exit_code == 1
    assert "No user model named 'User'" in result.output
