"""The auth-actions registry and its routes: every (resource, action) the app declares (reference §4.4–4.5)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from arkos.context import RequestContext
from arkos.routing.options import AccessRule, Requirement

if TYPE_CHECKING:
    from arkos.app import Runtime

AUTH_ACTION_RESOURCE = "auth-action"
AUTH_ACTION_OPERATIONS = ("find_many_auth_action", "find_one_auth_action")
SEED = Requirement(resource=AUTH_ACTION_RESOURCE, action="View",
                   rule=AccessRule(name="View Auth Action", description="View an auth action"))


def entry(requirement: Requirement, *, with_roles: bool) -> dict[str, Any]:
    name = requirement.display_name()
    item: dict[str, Any] = {
        "action": requirement.action,
        "resource": requirement.resource,
        "name": name,
        "description": requirement.rule.description or name,
        "errorMessage": requirement.denial_message(),
    }
    if with_roles:
        item["roles"] = sorted(requirement.rule.roles)
    return item


def collect(requirements: Iterable[Requirement], *, with_roles: bool) -> list[dict[str, Any]]:
    """One entry per (resource, action); the first declaration that carries a rule gives its text and roles."""
    found: dict[tuple[str | None, str | None], Requirement] = {}
    for requirement in requirements:
        if not requirement.authorizes:
            continue
        key = (requirement.resource, requirement.action)
        current = found.get(key)
        if current is None or (not current.rule.roles and requirement.rule.roles):
            found[key] = requirement
    return [entry(r, with_roles=with_roles) for r in sorted(found.values(), key=lambda r: (r.resource or "",
                                                                                           r.action or ""))]


def declared_requirements(runtime: Runtime) -> list[Requirement]:
    """Policies first (they are the canonical rules), then every route of the app."""
    from arkos.auth.policy import module_policies
    from arkos.routing.router import router_requirements

    result: list[Requirement] = [SEED]
    for module in runtime.modules.values():
        for policy in module_policies(module):
            result.extend(policy.requirement(action) for action in policy.rules)
    for module in runtime.modules.values():
        router = getattr(module.router, "router", None) if module.router else None
        if router is not None:
            result.extend(r for _path, r in router_requirements(router))
    result.extend(route.options.authentication for _p, _m, route in runtime.routes
                  if route.options.authentication is not None)
    return result


class AuthActionRoutes:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._cache: list[dict[str, Any]] | None = None

    def actions(self) -> list[dict[str, Any]]:
        if self._cache is None:  # every route is registered by the first request
            self._cache = collect(declared_requirements(self.runtime),
                                  with_roles=self.runtime.config.authentication.mode == "static")
        return self._cache

    async def find_many(self, ctx: RequestContext) -> None:
        data = self.actions()
        ctx.data = {"total": len(data), "results": len(data), "data": data}

    async def find_one(self, ctx: RequestContext) -> None:
        resource = str(ctx.request.path_params["resource"])
        data = [item for item in self.actions() if item["resource"] == resource]
        ctx.data = {"total": len(data), "results": len(data), "data": data}
