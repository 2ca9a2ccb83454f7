"""Finding the project's models and its `<package>/modules/<module>/{router,interceptors,policy}.py`."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy.orm import DeclarativeBase, class_mapper

from arkos.config import ArkosConfig, ConfigError

MODULE_FILES = ("router", "interceptors", "policy", "auth")


@dataclass(frozen=True, slots=True)
class ProjectModule:
    """One `modules/<name>/` folder: whichever of its files exist, imported."""

    name: str  # python name: blog_post
    router: ModuleType | None = None
    interceptors: ModuleType | None = None
    policy: ModuleType | None = None
    auth: ModuleType | None = None

    @property
    def resource(self) -> str:
        return self.name.replace("_", "-")


def _import_optional(name: str) -> ModuleType | None:
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        return None
    return importlib.import_module(name) if spec is not None else None


def discover_modules(package: str | None) -> dict[str, ProjectModule]:
    """Import every module folder of the project package (called inside init, never at import time)."""
    if not package:
        return {}
    base = _import_optional(f"{package}.modules")
    if base is None or not hasattr(base, "__path__"):
        return {}
    found: dict[str, ProjectModule] = {}
    # Folders with or without __init__.py (namespace packages) both count.
    names = sorted({d.name for root in base.__path__ for d in Path(root).iterdir()
                    if d.is_dir() and d.name.isidentifier()})
    for name in names:
        parts = {part: _import_optional(f"{package}.modules.{name}.{part}") for part in MODULE_FILES}
        if any(parts.values()):
            found[name] = ProjectModule(name, **parts)
    return found


def _import_object(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def resolve_models(config: ArkosConfig) -> list[type]:
    """`models` may be a DeclarativeBase subclass, a list of mapped classes or 'pkg.module:Base'."""
    source: Any = config.models
    if source is None and config.package:
        source = f"{config.package}.models"
    if source is None:
        return []
    if isinstance(source, str):
        source = _import_object(source)
    if isinstance(source, ModuleType):
        bases = [v for v in vars(source).values()
                 if isinstance(v, type) and issubclass(v, DeclarativeBase) and v is not DeclarativeBase
                 and "registry" in vars(v)]
        if len(bases) != 1:
            raise ConfigError(f"models: found {len(bases)} DeclarativeBase classes in {source.__name__}; "
                              "name one with models='pkg.module:Base'")
        source = bases[0]
    if isinstance(source, type) and issubclass(source, DeclarativeBase):
        classes = [mapper.class_ for mapper in source.registry.mappers]
    elif isinstance(source, list | tuple):
        classes = list(source)
    else:
        raise ConfigError("models: expected a DeclarativeBase subclass, a list of models or 'pkg.module:Base'")
    for cls in classes:
        class_mapper(cls)  # raises early for anything unmapped
    return sorted(classes, key=lambda c: c.__name__)


def metadata_of(models: list[type]) -> list[Any]:
    seen: list[Any] = []
    for cls in models:
        metadata = cls.metadata  # type: ignore[attr-defined]
        if all(metadata is not m for m in seen):
            seen.append(metadata)
    return seen
