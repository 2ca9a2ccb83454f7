"""`arkos new <name>`: a project folder that runs at once (config, models, app, .env with a fresh secret)."""

from __future__ import annotations

import importlib.util
import keyword
import secrets
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated

import typer

from arkos.cli._common import console, fail

# Template names without a leading dot survive packaging; they get their dot on copy.
_RENAMES = {"env": ".env", "gitignore": ".gitignore"}
_RESERVED = {"arkos", "arkos_config", "main", "migrations", "tests"}


def package_name(name: str) -> str:
    """`demo-app` → `demo_app`; refuses names that cannot be, or would shadow, an importable package."""
    package = Path(name).name.replace("-", "_")
    if not package.isidentifier() or keyword.iskeyword(package):
        fail(f"{name!r}: the package name {package!r} is not a valid Python identifier "
             "(use letters, digits, dashes or underscores, not starting with a digit)")
    if package in _RESERVED or package in sys.stdlib_module_names or importlib.util.find_spec(package):
        fail(f"{name!r}: the package name {package!r} would shadow the module of the same name; pick another")
    return package


def _render(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{ " + key + " }}", value)
    return text


def _copy(source: Traversable, target: Path, values: dict[str, str]) -> list[Path]:
    written: list[Path] = []
    for item in sorted(source.iterdir(), key=lambda t: t.name):
        if item.name.startswith((".", "__pycache__")):
            continue
        name = item.name.removesuffix(".tpl")
        name = values["package"] if name == "package" else _RENAMES.get(name, name)
        if item.is_dir():
            (target / name).mkdir()
            written += _copy(item, target / name, values)
        else:
            path = target / name
            path.write_text(_render(item.read_text("utf-8"), values), "utf-8")
            written.append(path)
    return written


def new(name: Annotated[str, typer.Argument(help="Project folder to create, e.g. my-api")]) -> None:
    """Create a new arkos project in NAME (an existing folder must be empty)."""
    target = Path(name)
    package = package_name(name)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        fail(f"{target} already exists and is not empty: nothing was written (pick another name)")
    target.mkdir(parents=True, exist_ok=True)
    values = {"name": target.name, "package": package, "jwt_secret": secrets.token_urlsafe(48)}
    written = _copy(resources.files("arkos") / "templates" / "project", target, values)
    (target / ".env").chmod(0o600)  # it holds the JWT secret
    out = console()
    out.print(f"[green]Created[/green] {target}/ ({len(written)} files, package [bold]{package}[/bold])")
    steps = (f"cd {target}", "arkos db push", "arkos users create --superuser --role Admin", "arkos dev")
    out.print("\n" + "".join(f"  {step}\n" for step in steps), markup=False)
