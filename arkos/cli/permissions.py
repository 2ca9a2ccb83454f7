"""Permissions from the shell: `arkos export auth-actions`, `generate policy|auth-configs` and `can`."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from arkos.cli._common import console, ensure_cwd_on_path, fail

if TYPE_CHECKING:
    from arkos.app import Runtime
    from arkos.auth.principal import Principal
    from arkos.config import ArkosConfig
    from arkos.routing.options import Requirement

EXPORT_FILE = "auth-actions.json"
CRUD_ACTIONS = (("Create", "create new"), ("View", "view"), ("Update", "update existing"),
                ("Delete", "delete"))

export_app = typer.Typer(help="Export what the app declares.", no_args_is_help=True)
generate_app = typer.Typer(help="Generate permission files for a module.", no_args_is_help=True)

ModuleOption = Annotated[str, typer.Option("--module", "-m", help="Module, e.g. post or blog-post")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace the file if it exists")]


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
    app.add_typer(generate_app, name="generate")
    app.command()(can)


def _runtime() -> Runtime:
    import arkos

    ensure_cwd_on_path()
    runtime: Runtime = arkos.init().state.arkos
    return runtime


# -- arkos export auth-actions ----------------------------------------------------------------------------


@export_app.command("auth-actions")
def export_auth_actions(
    path: Annotated[Path, typer.Option("--path", help="Folder to write auth-actions.json into")] = Path("."),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the file, do not merge")] = False,
) -> None:
    """Write every (resource, action) the app declares to auth-actions.json, as /api/auth-actions lists them.

    Without --overwrite, entries already in the file that the app no longer declares are kept (front ends
    may have added their own); entries the app declares are refreshed.
    """
    from arkos.auth.actions import AuthActionRoutes

    runtime = _runtime()
    if not runtime.config.authentication.is_active:
        fail("authentication.mode is not set: there are no auth actions to export")
    actions = AuthActionRoutes(runtime).actions()
    target = path / EXPORT_FILE
    merged = actions if overwrite or not target.exists() else _merge(_read_actions(target), actions)
    verb = "Updated" if target.exists() and not overwrite else "Wrote"
    path.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n", "utf-8")
    console().print(f"{verb} {target} ({len(merged)} auth action(s))", markup=False)


def _read_actions(target: Path) -> list[dict[str, Any]]:
    try:
        existing = json.loads(target.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"{target} is not a JSON list of auth actions ({exc}); pass --overwrite to replace it")
    if not isinstance(existing, list) or not all(isinstance(item, dict) for item in existing):
        fail(f"{target} is not a JSON list of auth actions; pass --overwrite to replace it")
    return existing


def _merge(existing: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_key = {(item.get("resource"), item.get("action")): item for item in existing}
    by_key.update({(item["resource"], item["action"]): item for item in current})
    return sorted(by_key.values(), key=lambda item: (str(item.get("resource")), str(item.get("action"))))


# -- arkos generate policy | auth-configs -------------------------------------------------------------------


@generate_app.command("policy")
def generate_policy(module: ModuleOption, overwrite: OverwriteOption = False) -> None:
    """Write <package>/modules/<module>/policy.py: a rule per CRUD action (no roles: super users only)."""
    config, resource, folder = _module_target(module)
    title = _title(resource)
    rules = ""
    if _is_model(config, resource):
        roles = "[], " if config.authentication.mode != "dynamic" else ""
        rules = "".join(
            f'\n    .rule("{action}", {roles}name="{action} {title}",\n'
            f'          description="Permission to {verb} {resource.replace("-", " ")} records")'
            for action, verb in CRUD_ACTIONS
        )
    name = f"{folder.name}_policy"
    source = (
        f'"""Who may do what with {resource}: roles per action; an empty list means super users only."""\n\n'
        "from arkos import ArkosPolicy\n\n"
        f'{name} = (\n    ArkosPolicy("{resource}"){rules}\n)\n'
    )
    _write(folder / "policy.py", source, overwrite)


@generate_app.command("auth-configs")
def generate_auth_configs(module: ModuleOption, overwrite: OverwriteOption = False) -> None:
    """Write <package>/modules/<module>/auth.py (the deprecated style; prefer `arkos generate policy`)."""
    _config, resource, folder = _module_target(module)
    title = _title(resource)
    control = ", ".join(f'"{action}": True' for action, _verb in CRUD_ACTIONS)
    access = "".join(
        f'    "{action}": {{\n        "roles": [],\n        "name": "{action} {title}",\n'
        f'        "description": "Permission to {verb} {resource.replace("-", " ")} records",\n    }},\n'
        for action, verb in CRUD_ACTIONS
    )
    source = (
        f'"""Auth config for {resource} (deprecated: `arkos generate policy --module {resource}` is the '
        'current style)."""\n\n'
        f"authentication_control = {{{control}}}\n\n"
        f"access_control = {{\n{access}}}\n"
    )
    _write(folder / "auth.py", source, overwrite)


def _module_target(module: str) -> tuple[ArkosConfig, str, Path]:
    from arkos.cli._common import project_config
    from arkos.naming import to_kebab, to_snake

    config = project_config()
    if not config.package:
        fail("The arkos config names no package (package=...): there is no modules/ folder to write into")
    spec = importlib.util.find_spec(config.package)
    if spec is None or not spec.submodule_search_locations:
        fail(f"Cannot find the project package {config.package!r} from {Path.cwd()}")
    resource = to_kebab(module.strip())
    if not resource or not to_snake(resource).isidentifier():
        fail(f"{module!r} is not a valid module name")
    folder = Path(list(spec.submodule_search_locations)[0]) / "modules" / to_snake(resource)
    return config, resource, folder


def _is_model(config: ArkosConfig, resource: str) -> bool:
    from arkos.discovery import resolve_models
    from arkos.naming import to_kebab

    return any(to_kebab(model.__name__) == resource for model in resolve_models(config))


def _title(resource: str) -> str:
    from arkos.naming import title

    return title(resource)


def _write(target: Path, source: str, overwrite: bool) -> None:
    if target.exists() and not overwrite:
        fail(f"{target} already exists; pass --overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source, "utf-8")
    console().print(f"Created {target}", markup=False)


# -- arkos can ----------------------------------------------------------------------------------------------


def can(
    user: Annotated[str, typer.Option("--user", "-u", help="Username (or id) of the user to check")],
    action: Annotated[str, typer.Option("--action", "-a", help="Action as declared, e.g. Create")],
    resource: Annotated[str, typer.Option("--resource", "-r", help="Resource, e.g. post or blog-post")],
) -> None:
    """Say whether a user may perform an action on a resource, and why (the explanation a 403 carries).

    Exit 0 when every rule declared for the action allows it, 1 otherwise.
    """
    from arkos.errors import ArkosError

    runtime = _runtime()
    if not runtime.config.authentication.is_active or runtime.auth.user_info is None:
        fail("authentication.mode is not set: every route is public, there is nothing to decide")
    try:
        decisions = asyncio.run(_decisions(runtime, user, action, resource))
    except LookupError as exc:
        fail(str(exc.args[0]))
    except ArkosError as exc:  # the account itself is refused (inactive, deleted): every request gets 401
        fail(f"{user} cannot use the API at all: {exc.message}")
    out = console()
    for allowed, where, explain in decisions:
        verdict = "may" if allowed else "may NOT"
        out.print(f"{user} {verdict} {action} {resource}  ({where})", markup=False)
        out.print(json.dumps({"explain": explain}, indent=2), markup=False)
    if not all(allowed for allowed, _where, _explain in decisions):
        raise typer.Exit(1)


async def _decisions(runtime: Runtime, username: str, action: str,
                     resource: str) -> list[tuple[bool, str, dict[str, Any]]]:
    try:
        principal = await _load_user(runtime, username)
        result = []
        for requirement, where in _declared(runtime, action, resource):
            allowed, decided_by = await runtime.auth.decide(principal, requirement)
            result.append((allowed, where, explain(runtime, principal, requirement, decided_by)))
        return result
    finally:
        await runtime.database.dispose()
        if runtime.redis is not None:
            await runtime.redis.aclose()


def explain(runtime: Runtime, user: Principal, requirement: Requirement, decided_by: str) -> dict[str, Any]:
    """The same fields as a development 403's `meta.explain` (one builder: AuthService.explain)."""
    return runtime.auth.explain(user, requirement, decided_by)


async def _load_user(runtime: Runtime, username: str) -> Principal:
    import sqlalchemy as sa

    info = runtime.auth.user_info
    assert info is not None
    columns = [f for name in runtime.config.authentication.login.allowed_usernames
               if (f := info.field(name)) is not None]
    conditions = [f.column == username for f in columns]
    try:
        conditions.append(info.primary_key.column == info.primary_key.coerce(username))
    except ValueError:
        pass
    statement = sa.select(*info.visible_columns).where(sa.or_(*conditions)).limit(1)
    async with runtime.database.engine.connect() as conn:
        row = (await conn.execute(statement)).first()
    if row is None:
        raise LookupError(f"No user {username!r} (looked up by {', '.join(f.wire for f in columns)} and id)")
    return runtime.auth.check_account(dict(zip(info.visible_keys, row, strict=True)), issued_at=None)


def _declared(runtime: Runtime, action: str, resource: str) -> list[tuple[Requirement, str]]:
    """Each distinct rule declared for (action, resource), with where it is declared; rules are not merged."""
    from arkos.auth.policy import module_policies
    from arkos.routing.options import Requirement
    from arkos.routing.router import router_requirements

    places: dict[Requirement, list[str]] = {}

    def add(requirement: Requirement | None, place: str) -> None:
        if requirement is not None and (requirement.resource, requirement.action) == (resource, action):
            places.setdefault(requirement, []).append(place)

    for module in runtime.modules.values():
        for policy in module_policies(module):
            if action in policy.rules:
                add(policy.requirement(action), f"policy in modules/{module.name}")
        router = getattr(module.router, "router", None) if module.router else None
        for path, requirement in router_requirements(router) if router is not None else ():
            add(requirement, path)
    for path, method, route in runtime.routes:
        add(route.options.authentication, f"{method} {path}")
    if not places:
        return [(Requirement(resource=resource, action=action), "declared nowhere: super users only")]
    return [(requirement, ", ".join(dict.fromkeys(where))) for requirement, where in places.items()]
