"""Auth config files (`modules/<m>/auth.py`, the older style): `authentication_control` and `access_control`."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from arkos.errors import ArkosError, ErrorCode
from arkos.routing.options import AccessRule, Requirement, normalize_rule

if TYPE_CHECKING:
    from arkos.auth.principal import Principal
    from arkos.discovery import ProjectModule

_warned: set[str] = set()


def _auth_module(module: ProjectModule | None) -> Any:
    if module is None or module.auth is None:
        return None
    if module.name not in _warned:
        _warned.add(module.name)
        warnings.warn(
            f"modules/{module.name}/auth.py: auth config files are deprecated; "
            f"declare an ArkosPolicy in modules/{module.name}/policy.py instead",
            DeprecationWarning,
            stacklevel=2,
        )
    return module.auth


def rule_for(access_control: object, action: str) -> AccessRule | None:
    """A list or '*' applies to every action; a dict is looked up by action (missing → None: deny)."""
    if access_control is None:
        return None
    if isinstance(access_control, Mapping):
        return normalize_rule(access_control[action]) if action in access_control else None
    return normalize_rule(access_control)


def legacy_requirement(module: ProjectModule | None, resource: str, action: str) -> Requirement | None | bool:
    """What the module's auth.py says for this route: a Requirement, None (public) or False (nothing said)."""
    auth = _auth_module(module)
    if auth is None:
        return False
    control = getattr(auth, "authentication_control", None)
    if control is False or (isinstance(control, Mapping) and control.get(action) is False):
        return None
    rule = rule_for(getattr(auth, "access_control", None), action)
    return Requirement(resource=resource, action=action, rule=rule or AccessRule())


def permission(action: str, resource: str, access_control: object = None) -> Callable[[Principal | None],
                                                                                  Awaitable[bool]]:
    """An async checker `await check(user) -> bool` for `action` on `resource` under `access_control`."""
    requirement = Requirement(resource=resource, action=action, rule=rule_for(access_control, action) or AccessRule())

    async def check(user: Principal | None) -> bool:
        if user is None:
            raise ArkosError(ErrorCode.LOGIN_REQUIRED)
        return await user.can(requirement)

    return check
