"""Shared CLI plumbing: lazy Rich consoles, the project's config, and the error → exit-code rules."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from arkos.config import ArkosConfig

EXIT_FAILURE = 1
EXIT_CONFIG = 2


def console() -> Console:
    """Built on demand (never at import): Rich reads the terminal and environment when constructed."""
    return Console(soft_wrap=True, highlight=False)


def err_console() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print a red message (no markup parsing: messages quote user values) and exit."""
    err_console().print(message, style="bold red", markup=False)
    raise typer.Exit(code)


def ensure_cwd_on_path() -> str:
    """Console scripts put their bin folder first on sys.path, not the project the user stands in."""
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    return cwd


def project_config() -> ArkosConfig:
    """The config the app would get: the project's `arkos_config` module (if any) + environment + `.env`."""
    from arkos.app import build_config

    ensure_cwd_on_path()
    return build_config(None, {}, ".env")


class _EchoHandler(logging.Handler):
    """Resolves stderr at every record, so it keeps working when tests swap the streams."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(self.format(record), err=True)


def show_logs(name: str) -> None:
    """Alembic reports its progress through logging, which nobody configured without an alembic.ini."""
    logger = logging.getLogger(name)
    if not any(isinstance(h, _EchoHandler) for h in logger.handlers):
        logger.addHandler(_EchoHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False

