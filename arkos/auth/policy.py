"""ArkosPolicy: permissions declared in code, usable as `authentication=` and as `can_*` checks."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from arkos.errors import ArkosError, ErrorCode
from arkos.naming import to_snake
from arkos.routing.options import AccessRule, Requirement, normalize_rule

if TYPE_CHECKING:
    from arkos.auth.principal import Principal
    from arkos.discovery import ProjectModule


class ArkosPolicy:
    """An immutable set of rules for one resource.

    `ArkosPolicy("post").rule("Create", ["Admin", "Editor"]).rule("View", "*")` gives `policy.Create`
    (a route requirement) and `await policy.can_create(user)`.
    """

    __slots__ = ("resource", "_rules")

    def __init__(self, resource: str, rules: Mapping[str, AccessRule] | None = None) -> None:
        self.resource = resource
        self._rules: Mapping[str, AccessRule] = MappingProxyType(dict(rules or {}))

    def rule(
        self,
        action: str,
        roles: object = None,
        *,
        name: str | None = None,
        description: str | None = None,
        error_message: str | None = None,
    ) -> ArkosPolicy:
        base = normalize_rule(roles)
        rule = AccessRule(
            base.roles,
            name=name or base.name,
            description=description or base.description,
            error_message=error_message or base.error_message,
        )
        return ArkosPolicy(self.resource, {**self._rules, action: rule})

    @property
    def rules(self) -> Mapping[str, AccessRule]:
        return self._rules

    def requirement(self, action: str) -> Requirement:
        return Requirement(resource=self.resource, action=action, rule=self._rules[action])

    def __getattr__(self, name: str) -> Any:
        rules = object.__getattribute__(self, "_rules")
        if name in rules:
            return self.requirement(name)
        if name.startswith("can_"):
            wanted = name[4:]
            action = next((a for a in rules if to_snake(a) == wanted), None)
            if action is not None:
                return self._checker(action)
        raise AttributeError(f"policy {self.resource!r} has no rule {name!r}")

    def _checker(self, action: str) -> Any:
        requirement = self.requirement(action)

        async def can(user: Principal | None) -> bool:
            if user is None:
                raise ArkosError(ErrorCode.LOGIN_REQUIRED)
            return await user.can(requirement)

        can.__name__ = f"can_{to_snake(action)}"
        return can

    def __repr__(self) -> str:
        return f"ArkosPolicy({self.resource!r}, actions={list(self._rules)})"


def module_policies(module: ProjectModule | None) -> list[ArkosPolicy]:
    if module is None:
        return []
    found: list[ArkosPolicy] = []
    for source in (module.policy, module.router):
        if source is not None:
            found.extend(v for v in vars(source).values() if isinstance(v, ArkosPolicy))
    return found


def module_rule(module: ProjectModule | None, resource: str, action: str) -> AccessRule:
    """The rule a generated route gets from its module's policy; none means super users only."""
    for policy in module_policies(module):
        if policy.resource == resource and action in policy.rules:
            return policy.rules[action]
    return AccessRule()
