"""Interceptors: `before_<op>`, `after_<op>` and `on_<op>_error` functions loaded from a module."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from arkos.config import ConfigError

Interceptor = Callable[[Any], Awaitable[None]]


def _as_async(fn: Callable[..., Any]) -> Interceptor:
    if inspect.iscoroutinefunction(fn):
        return fn

    async def call(ctx: Any) -> None:
        result = fn(ctx)
        if inspect.isawaitable(result):
            await result

    return call


def as_callables(value: object, where: str) -> tuple[Interceptor, ...]:
    """A function or a list of functions → a tuple of async callables; anything else fails at startup."""
    if value is None:
        return ()
    items: Iterable[object] = value if isinstance(value, list | tuple) else (value,)
    result = []
    for item in items:
        if not callable(item):
            raise ConfigError(f"{where}: expected a function or a list of functions, got {type(item).__name__}")
        result.append(_as_async(item))
    return tuple(result)


@dataclass(frozen=True, slots=True)
class Interceptors:
    before: tuple[Interceptor, ...] = ()
    after: tuple[Interceptor, ...] = ()
    on_error: tuple[Interceptor, ...] = ()


NO_INTERCEPTORS = Interceptors()


def load_interceptors(module: object | None, operation: str, where: str) -> Interceptors:
    if module is None:
        return NO_INTERCEPTORS
    found = Interceptors(
        before=as_callables(getattr(module, f"before_{operation}", None), f"{where}.before_{operation}"),
        after=as_callables(getattr(module, f"after_{operation}", None), f"{where}.after_{operation}"),
        on_error=as_callables(getattr(module, f"on_{operation}_error", None), f"{where}.on_{operation}_error"),
    )
    return found if (found.before or found.after or found.on_error) else NO_INTERCEPTORS
