"""RouteOptions: what a route requires, as a frozen value merged from defaults, hook and route."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
import warnings

from arkos.config import ConfigError
from arkos.naming import sentence, title

ANY_ROLE = "*"


@dataclass(frozen=True, slots=True)
class AccessRule:
    """Who may perform `action` on `resource`: roles (`*` = any authenticated user) plus display text."""

    roles: tuple[str, ...] = ()
    name: str | None = None
    description: str | None = None
    error_message: str | None = None

    @property
    def allows_anyone(self) -> bool:
        return ANY_ROLE in self.roles

    def grants(self, roles: Sequence[str]) -> bool:
        """Whether a user with `roles` passes this rule in static mode (super users are decided before)."""
        if ANY_ROLE in self.roles:
            return True
        for role in roles:  # a loop, not any(<generator>): this runs on every authorized request
            if role in self.roles:
                return True
        return False


def normalize_rule(rule: object) -> AccessRule:
    """Every accepted rule spelling → AccessRule; `"*"`, `["*"]` and `{"roles": "*"}` mean the same (DECISIONS 8)."""
    if rule is None:
        return AccessRule()
    if isinstance(rule, AccessRule):
        return rule
    if isinstance(rule, str):
        return AccessRule((rule,))
    if isinstance(rule, Mapping):
        unknown = set(rule) - {"roles", "name", "description", "error_message", "errorMessage"}
        if unknown:
            raise ValueError(f"unknown access rule key(s): {', '.join(sorted(unknown))}")
        base = normalize_rule(rule.get("roles"))
        return AccessRule(
            base.roles,
            name=rule.get("name"),
            description=rule.get("description"),
            error_message=rule.get("error_message") or rule.get("errorMessage"),
        )
    if isinstance(rule, Sequence):
        roles = tuple(str(getattr(r, "value", r)) for r in rule)
        return AccessRule(roles)
    raise ValueError(f"invalid access rule {rule!r}: use a list of roles, '*' or {{'roles': [...]}}")


@dataclass(frozen=True, slots=True)
class Requirement:
    """Authenticate, and when `action` is set, authorize `action` on `resource` under `rule`."""

    resource: str | None = None
    action: str | None = None
    rule: AccessRule = AccessRule()

    @property
    def authorizes(self) -> bool:
        return self.action is not None

    def denial_message(self) -> str:
        if self.rule.error_message:
            return self.rule.error_message
        return f"You cannot perform {sentence(self.action or '')} for {sentence(self.resource or '')}"

    def display_name(self) -> str:
        return self.rule.name or f"{title(self.action or '')} {title(self.resource or '')}"


@dataclass(frozen=True, slots=True)
class RouteOptions:
    authentication: Requirement | None = None  # None: public
    disabled: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


HOOK_KEYS = frozenset({"authentication", "disabled", "rate_limit", "validation", "uploads"})


def resolve_authentication(value: object, *, resource: str | None, action: str | None) -> Requirement | None:
    """A route's `authentication=` value → Requirement (or None for a public route)."""
    if value is False or value is None:
        return None
    if value is True:
        return Requirement(resource=resource)
    if isinstance(value, Requirement):
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - {"resource", "action", "rule"}
        if unknown:
            raise ConfigError(f"authentication: unknown key(s) {', '.join(sorted(unknown))}")
        return Requirement(
            resource=value.get("resource", resource),
            action=value.get("action", action),
            rule=normalize_rule(value.get("rule")),
        )
    raise ConfigError(
        "authentication must be True, False, a policy action (policy.Create) "
        "or {'resource': ..., 'action': ..., 'rule': [...]}"
    )


def merge_options(default: RouteOptions, hook_entry: Mapping[str, Any] | None, *, where: str,
                  resource: str | None, action: str | None) -> RouteOptions:
    """Lay one route-hook entry over the generated defaults; the hook wins key by key."""
    if not hook_entry:
        return default
    if not isinstance(hook_entry, Mapping):
        raise ConfigError(f"{where}: a route hook entry must be a dict")
    unknown = set(hook_entry) - HOOK_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown route hook key(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(sorted(HOOK_KEYS))}")
    options = default
    if "authentication" in hook_entry:
        options = replace(
            options,
            authentication=resolve_authentication(hook_entry["authentication"], resource=resource, action=action),
        )
    if "disabled" in hook_entry:
        options = replace(options, disabled=bool(hook_entry["disabled"]))
    extra = {k: v for k, v in hook_entry.items() if k not in {"authentication", "disabled"}}
    if extra:
        options = replace(options, extra={**options.extra, **extra})
    return options


def read_hook(module: object, where: str) -> Mapping[str, Any]:
    """A module's `hook` (or the deprecated `config`) as a dict of operation → entry."""
    hook = getattr(module, "hook", None)
    if hook is None and getattr(module, "config", None) is not None:
        warnings.warn(
            f"{where}: `config` is deprecated, rename it to `hook`", DeprecationWarning, stacklevel=2
        )
        hook = getattr(module, "config")
    if hook is None:
        return {}
    if not isinstance(hook, Mapping):
        raise ConfigError(f"{where}: `hook` must be a dict of operation name → options")
    return hook


def require_known_operations(hook: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    unknown = set(hook) - set(known) - {"disable"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown operation(s) {', '.join(sorted(unknown))} in hook; known: {', '.join(known)}"
        )
