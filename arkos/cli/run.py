"""`arkos dev` and `arkos start`: uvicorn with the project's app, for development or production."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from arkos.cli._common import ensure_cwd_on_path, fail, project_config
from arkos.config import ArkosConfig

AppOption = Annotated[
    str | None,
    typer.Option("--app", help="ASGI app as module:attribute (default: ARKOS_APP, then <package>.main:app)"),
]
HostOption = Annotated[str | None, typer.Option(help="Interface to bind (default: HOST or config.host)")]
PortOption = Annotated[int | None, typer.Option(help="Port to bind (default: PORT or config.port)")]


def app_import_string(explicit: str | None, config: ArkosConfig | None) -> str:
    """--app, else ARKOS_APP, else the project package's `main:app`, else `main:app`.

    An import string (not an object) so uvicorn can re-import it in reload and worker processes.
    """
    target = explicit or os.environ.get("ARKOS_APP") or (
        f"{config.package}.main:app" if config is not None and config.package else "main:app"
    )
    return target if ":" in target else f"{target}:app"


def _serve(app: str | None, host: str | None, port: int | None, *, graceful_timeout: float | None = None,
           **uvicorn_options: object) -> None:
    import uvicorn

    cwd = ensure_cwd_on_path()
    config = project_config()
    target = app_import_string(app, config)
    bind_host, bind_port = host or config.host, port or config.port
    typer.echo(f"arkos: serving {target} on http://{bind_host}:{bind_port} ({config.env})", err=True)
    try:
        # Without a timeout uvicorn waits for in-flight requests forever after SIGTERM, and an orchestrator's
        # SIGKILL (Kubernetes: 30 s later) would then cut them without the lifespan shutdown.
        uvicorn.run(target, host=bind_host, port=bind_port, app_dir=cwd,
                    timeout_graceful_shutdown=graceful_timeout or config.graceful_timeout_seconds,
                    **uvicorn_options)  # type: ignore[arg-type]
    except KeyboardInterrupt:  # pragma: no cover - interactive stop
        pass
    except SystemExit as exc:  # uvicorn exits 1 when the app cannot be imported
        if exc.code not in (None, 0):
            fail(f"uvicorn could not start {target} (see the message above)")
        raise


def dev(app: AppOption = None, host: HostOption = None, port: PortOption = None) -> None:
    """Run the API with auto-reload for development."""
    _serve(app, host, port, reload=True, reload_dirs=[ensure_cwd_on_path()])


def start(
    app: AppOption = None,
    host: HostOption = None,
    port: PortOption = None,
    workers: Annotated[int, typer.Option(min=1, help="Number of worker processes")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request (a proxy usually does)")] = False,
    graceful_timeout: Annotated[float | None, typer.Option(
        min=0.1, help="Seconds in-flight requests may take to finish after SIGTERM before they are cancelled "
        "(default: config.graceful_timeout_seconds, 30)")] = None,
    worker_healthcheck_timeout: Annotated[float, typer.Option(
        min=1, help="With --workers: seconds a worker may leave the supervisor's health ping unanswered "
        "before it is killed and replaced (uvicorn's default is 5: too short for a busy host)")] = 30,
) -> None:
    """Run the API for production (ARKOS_ENV=production unless set; no reload)."""
    if not os.environ.get("ARKOS_ENV"):  # before the config module is imported: it reads the env
        os.environ["ARKOS_ENV"] = "production"
    _serve(app, host, port, graceful_timeout=graceful_timeout, workers=workers, access_log=access_log,
           server_header=False, timeout_worker_healthcheck=worker_healthcheck_timeout)
