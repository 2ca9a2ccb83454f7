"""The command line as a whole: help, side-effect-free import, config errors as messages with exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Cli


def test_help_lists_every_command(cli: Cli) -> None:
    result = cli.invoke("--help")
    assert result.exit_code == 0
    for command in ("dev", "start", "new", "db", "users"):
        assert command in result.output
    db_help = cli.invoke("db", "--help").output
    assert all(c in db_help for c in ("push", "migrate", "upgrade"))


def test_python_m_and_import_have_no_side_effects(cli: Cli, tmp_path: Path) -> None:
    # Broken env values must not matter to an import or to --help: nothing is read until a command runs.
    done = cli.run("--help", env={"DATABASE_URL": "mysql://nope", "PORT": "x"})
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout and "users" in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_config_error_is_a_message_and_exit_2(cli: Cli) -> None:
    result = cli.invoke("db", "push", env={"DATABASE_URL": "mysql://user:secret@db.example/app"})
    assert result.exit_code == 2
    assert "Invalid arkos configuration" in result.output
    assert "DATABASE_URL" in result.output
    assert "secret" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_config_error_in_a_real_process_has_no_traceback(cli: Cli) -> None:
    done = cli.run("users", "create", "--username", "a", "--password", "b", env={"PORT": "not-a-port"})
    assert done.returncode == 2
    assert "port (env PORT)" in done.stderr
    assert "Traceback" not in done.stderr
