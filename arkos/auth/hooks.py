"""Authenticate/authorize hooks from config: `before`, `after`, `on_error`, with `skip()` (reference §2.5)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from arkos.config import AuthHooks
from arkos.routing.interceptors import Interceptor, as_callables


@dataclass(slots=True, eq=False)
class HookCall:
    """What a hook receives: the request context, the error (in on_error) and `skip()`."""

    ctx: Any
    action: str | None = None
    resource: str | None = None
    rule: Any = None
    error: BaseException | None = None
    skipped: bool = field(default=False)

    @property
    def request(self) -> Any:
        return self.ctx.request

    def skip(self) -> None:
        self.skipped = True


@dataclass(frozen=True, slots=True)
class HookChain:
    before: tuple[Interceptor, ...] = ()
    after: tuple[Interceptor, ...] = ()
    on_error: tuple[Interceptor, ...] = ()

    @classmethod
    def from_config(cls, hooks: AuthHooks, where: str) -> HookChain:
        return cls(
            before=as_callables(list(hooks.before), f"{where}.before"),
            after=as_callables(list(hooks.after), f"{where}.after"),
            on_error=as_callables(list(hooks.on_error), f"{where}.on_error"),
        )

    @property
    def is_empty(self) -> bool:
        return not (self.before or self.after or self.on_error)

    async def run(self, call: HookCall, core: Callable[[], Awaitable[None]]) -> None:
        """before → core → after; a throw goes to on_error, which may skip() it or raise another."""
        try:
            for before in self.before:
                await before(call)
                if call.skipped:
                    break
            if not call.skipped:
                await core()
        except Exception as error:
            call.error, call.skipped = error, False
            for on_error in self.on_error:
                await on_error(call)  # raising a new error replaces the original
                if call.skipped:
                    break
            if not call.skipped:
                raise
        for after in self.after:
            await after(call)
