"""`arkos new`: the scaffold, its refusals, and that it runs at once (push, signup, login)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Cli


def test_scaffold_files(cli: Cli, tmp_path: Path) -> None:
    result = cli.invoke("new", "demo-app")
    assert result.exit_code == 0, result.output
    root = tmp_path / "demo-app"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [".env", ".gitignore", "README.md", "arkos_config.py", "demo_app/__init__.py",
                     "demo_app/main.py", "demo_app/models.py", "demo_app/modules/README.md"]
    assert 'package="demo_app"' in (root / "arkos_config.py").read_text()
    assert '"mode": "static"' in (root / "arkos_config.py").read_text()
    assert "app = arkos.init()" in (root / "demo_app" / "main.py").read_text()
    assert "{{" not in "".join(p.read_text() for p in root.rglob("*") if p.is_file())
    env = dict(line.split("=", 1) for line in (root / ".env").read_text().splitlines() if "=" in line)
    assert env["DATABASE_URL"] == "sqlite+aiosqlite:///./app.db"
    assert len(env["JWT_SECRET"]) >= 60
    assert stat.S_IMODE((root / ".env").stat().st_mode) == 0o600
    assert ".env" in (root / ".gitignore").read_text().split()
    # every project gets its own secret
    assert cli.invoke("new", "other").exit_code == 0
    assert (tmp_path / "other" / ".env").read_text() != (root / ".env").read_text()


def test_refuses_a_non_empty_folder(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    result = cli.invoke("new", "taken")
    assert result.exit_code == 1
    assert "already exists and is not empty" in result.output
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]
    (tmp_path / "empty").mkdir()
    assert cli.invoke("new", "empty").exit_code == 0


@pytest.mark.parametrize("name", ["1app", "my app", "class", "json", "arkos", "typer"])
def test_refuses_bad_package_names(cli: Cli, tmp_path: Path, name: str) -> None:
    result = cli.invoke("new", name)
    assert result.exit_code == 1
    assert "package name" in result.output
    assert list(tmp_path.iterdir()) == []


def test_new_project_runs(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.invoke("new", "demo-app").exit_code == 0
    root = tmp_path / "demo-app"
    monkeypatch.chdir(root)
    push = cli.invoke("db", "push")
    assert push.exit_code == 0, push.output
    assert "arkos_revoked_token, user" in push.output
    assert (root / "app.db").exists()
    # the app itself is built in a fresh interpreter, exactly as uvicorn would import it
    assert cli.auth(root, "alice", "Secret123", signup=True) == ["201", "200", "True"]
