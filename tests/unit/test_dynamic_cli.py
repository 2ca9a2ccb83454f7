"""The dynamic-mode commands: `arkos permissions sync`, `arkos roles create|grant|assign`,
`arkos migrate-to-dynamic`, and `arkos db migrate` including the permission tables (a throwaway project
on SQLite, the commands run in-process)."""

from __future__ import annotations

import importlib
import sqlite3
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from arkos.cli import app

MODELS = '''
import enum

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from arkos import UserMixin, define_permission_models, role_column


class Base(DeclarativeBase):
    pass


class Role(enum.Enum):
    Admin = "Admin"
    Editor = "Editor"
    User = "User"


class User(UserMixin, Base):
    __tablename__ = "user"

    role: Mapped[Role] = role_column(Role, default=Role.User)


class Product(Base):
    __tablename__ = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
{permissions}'''
PERMISSIONS = '''

AuthRole, AuthPermission, AuthRolePermission, UserRole, UserPermission = define_permission_models(
    Base, user_model=User
).all()
'''
POLICY = '''
from arkos import ArkosPolicy

product_policy = (
    ArkosPolicy("product")
    .rule("Create", ["Admin", "Editor"])
    .rule("Delete", ["Admin"])
    .rule("View", "*")
    .rule("Export", ["Editor"])
)
'''
CONFIG = '''
import os

from arkos import define_config

config = define_config(package="{package}",
                       authentication={{"mode": os.environ.get("AUTH_MODE", "static"), "bcrypt_rounds": 4}})
'''
TABLES = ("auth_role", "auth_permission", "auth_role_permission", "user_role", "user_permission")


@dataclass
class Project:
    root: Path
    package: str

    @property
    def db(self) -> Path:
        return self.root / "app.db"

    def invoke(self, *args: str, env: dict[str, str] | None = None) -> Result:
        self.purge()
        try:
            return CliRunner().invoke(app, list(args), env=env)
        finally:
            self.purge()

    def purge(self) -> None:
        for name in list(sys.modules):
            if name == "arkos_config" or name == self.package or name.startswith(self.package + "."):
                del sys.modules[name]
        importlib.invalidate_caches()

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.db) as conn:
            found = conn.execute(sql).fetchall()
        conn.close()
        return found


def write(root: Path, relative: str, text: str) -> None:
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(text))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    package = f"dynshop_{uuid.uuid4().hex[:8]}"
    monkeypatch.delenv("AUTH_MODE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    write(tmp_path, "arkos_config.py", CONFIG.format(package=package))
    write(tmp_path, ".env", "DATABASE_URL=sqlite+aiosqlite:///./app.db\nJWT_SECRET=" + "s" * 48 + "\n")
    for relative in ("__init__.py", "modules/__init__.py", "modules/product/__init__.py"):
        write(tmp_path, f"{package}/{relative}", "")
    write(tmp_path, f"{package}/models.py", MODELS.format(permissions=PERMISSIONS))
    write(tmp_path, f"{package}/modules/product/policy.py", POLICY)
    found = Project(tmp_path, package)
    yield found
    found.purge()


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_db_migrate_includes_the_permission_tables(project: Project) -> None:
    ok(project.invoke("db", "migrate", "-m", "init"))
    [revision] = (project.root / "migrations" / "versions").glob("*_init.py")
    text = revision.read_text()
    for table in TABLES:
        assert f"op.create_table('{table}'" in text, table
    assert "uq_auth_permission_resource_action" in text
    ok(project.invoke("db", "upgrade"))
    tables = {name for (name,) in project.rows("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(TABLES) <= tables


def test_the_commands(project: Project) -> None:
    ok(project.invoke("db", "push"))
    for username, role in (("alice", "Editor"), ("bob", "Admin"), ("carl", "User")):
        ok(project.invoke("users", "create", "--username", username, "--password", "Passw0rd-Test", "--role", role))

    synced = ok(project.invoke("permissions", "sync"))
    declared = project.rows("SELECT resource, action FROM auth_permission")
    assert ("product", "Export") in declared and ("product", "View") in declared
    assert ("user-role", "Create") in declared and ("auth-action", "View") in declared
    assert f"{len(declared)} permission(s) created" in synced
    assert "0 permission(s) created" in ok(project.invoke("permissions", "sync"))

    created = ok(project.invoke("roles", "create", "Support", "--description", "Helpdesk"))
    assert "Created role Support" in created
    assert "already exists" in ok(project.invoke("roles", "create", "Support"))
    assert project.rows("SELECT description FROM auth_role WHERE name = 'Support'") == [("Helpdesk",)]

    granted = ok(project.invoke("roles", "grant", "Support", "product", "View"))
    assert "Granted View on product to role Support" in granted
    assert "nothing to do" in ok(project.invoke("roles", "grant", "Support", "product", "View"))
    typo = project.invoke("roles", "grant", "Support", "prodcut", "View")
    assert typo.exit_code == 0 and "declares no action 'View' on resource 'prodcut'" in typo.output
    missing_role = project.invoke("roles", "grant", "Nobody", "product", "View")
    assert missing_role.exit_code == 1 and "No role named 'Nobody'" in missing_role.output

    assert "Assigned role Support to carl" in ok(project.invoke("roles", "assign", "carl", "Support"))
    assert "already has role Support" in ok(project.invoke("roles", "assign", "carl", "Support"))
    assert project.invoke("roles", "assign", "nobody", "Support").exit_code == 1
    assert project.invoke("roles", "assign", "carl", "Nobody").exit_code == 1

    migrated = ok(project.invoke("migrate-to-dynamic"))
    # Roles: the enum's three; grants: Create×2, Delete×1, Export×1 ("*" needs none); one row per user.
    assert "3 role(s), 4 grant(s) and 3 user-role assignment(s) created" in migrated
    assert "0 role(s), 0 grant(s) and 0 user-role assignment(s)" in ok(project.invoke("migrate-to-dynamic"))
    held = project.rows(
        'SELECT u.username, r.name FROM user_role ur JOIN "user" u ON u.id = ur.user_id '
        "JOIN auth_role r ON r.id = ur.role_id ORDER BY 1, 2")
    assert held == [("alice", "Editor"), ("bob", "Admin"), ("carl", "Support"), ("carl", "User")]
    grants = project.rows(
        "SELECT r.name, p.resource, p.action FROM auth_role_permission rp "
        "JOIN auth_role r ON r.id = rp.role_id JOIN auth_permission p ON p.id = rp.permission_id ORDER BY 1, 2, 3")
    assert grants == [("Admin", "product", "Create"), ("Admin", "product", "Delete"),
                      ("Editor", "product", "Create"), ("Editor", "product", "Export"),
                      ("Support", "prodcut", "View"), ("Support", "product", "View")]


def test_commands_need_the_tables(project: Project) -> None:
    result = project.invoke("roles", "create", "Support")
    assert result.exit_code == 1
    assert "arkos db push" in result.output


def test_commands_need_the_permission_models(project: Project) -> None:
    write(project.root, f"{project.package}/models.py", MODELS.format(permissions=""))
    result = project.invoke("permissions", "sync")
    assert result.exit_code == 2
    assert "define_permission_models" in result.output


def test_an_unreachable_channel_is_a_warning(project: Project) -> None:
    ok(project.invoke("db", "push"))
    result = project.invoke("roles", "create", "Support", env={"REDIS_URL": "redis://127.0.0.1:1/0"})
    assert result.exit_code == 0, result.output
    assert "Created role Support" in result.output
    assert "running servers could not be told" in result.output
