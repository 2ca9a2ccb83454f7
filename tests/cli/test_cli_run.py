"""`arkos dev` / `arkos start`: where the app is found and what uvicorn is asked to do (no server)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn

from arkos.cli.run import app_import_string
from arkos.config import define_config

if TYPE_CHECKING:
    from conftest import Cli


def test_app_location_order(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    with_package = define_config(package="shop", env_file=None)
    assert app_import_string(None, None) == "main:app"
    assert app_import_string(None, define_config(env_file=None)) == "main:app"
    assert app_import_string(None, with_package) == "shop.main:app"
    monkeypatch.setenv("ARKOS_APP", "service.asgi:application")
    assert app_import_string(None, with_package) == "service.asgi:application"
    assert app_import_string("other.web:api", with_package) == "other.web:api"
    assert app_import_string("other.web", with_package) == "other.web:app"


@pytest.mark.parametrize("command", ["dev", "start"])
def test_help(cli: Cli, command: str) -> None:
    result = cli.invoke(command, "--help")
    assert result.exit_code == 0
    assert "--app" in result.output and "--port" in result.output


def _capture(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    calls: dict[str, Any] = {}

    def fake_run(target: str, **options: Any) -> None:
        calls.update(options, target=target, env=os.environ.get("ARKOS_ENV"))

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return calls


def test_dev_reloads_the_project_app(cli: Cli, shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _capture(monkeypatch)
    result = cli.invoke("dev", env={"PORT": "9001"})
    assert result.exit_code == 0, result.output
    assert calls["target"] == "shop.main:app"
    assert (calls["host"], calls["port"], calls["reload"]) == ("127.0.0.1", 9001, True)
    assert calls["env"] is None


def test_start_is_production(cli: Cli, shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _capture(monkeypatch)
    monkeypatch.setenv("ARKOS_ENV", "")  # empty counts as unset; monkeypatch removes what start sets
    result = cli.invoke("start", "--app", "shop.web:api", "--host", "0.0.0.0", "--port", "8080",
                        "--workers", "3")
    assert result.exit_code == 0, result.output
    assert calls["target"] == "shop.web:api"
    assert (calls["host"], calls["port"], calls["workers"]) == ("0.0.0.0", 8080, 3)
    assert calls["env"] == "production" and "reload" not in calls and calls["access_log"] is False


def test_start_refuses_production_without_secret(cli: Cli, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _capture(monkeypatch)
    monkeypatch.setenv("ARKOS_ENV", "")
    (tmp_path / "arkos_config.py").write_text(
        'from arkos import define_config\nconfig = define_config(authentication={"mode": "static"})\n'
    )
    result = cli.invoke("start")
    assert result.exit_code == 2
    assert "JWT_SECRET" in result.output
    assert calls == {}


def test_start_passes_a_graceful_shutdown_timeout(cli: Cli, shop: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _capture(monkeypatch)
    monkeypatch.setenv("ARKOS_ENV", "")
    assert cli.invoke("start").exit_code == 0
    assert calls["timeout_graceful_shutdown"] == 30.0  # uvicorn's own default (None) waits forever
    assert cli.invoke("start", "--graceful-timeout", "7.5").exit_code == 0
    assert calls["timeout_graceful_shutdown"] == 7.5
    assert cli.invoke("start", "--graceful-timeout", "0").exit_code == 2


def test_start_gives_busy_workers_time_to_answer_the_health_ping(cli: Cli, shop: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _capture(monkeypatch)
    monkeypatch.setenv("ARKOS_ENV", "")
    assert cli.invoke("start", "--workers", "2").exit_code == 0
    assert calls["timeout_worker_healthcheck"] == 30  # uvicorn's 5 s killed a slow-starting worker (bench/)
    assert cli.invoke("start", "--worker-healthcheck-timeout", "12").exit_code == 0
    assert calls["timeout_worker_healthcheck"] == 12
