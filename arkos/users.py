"""Creating users outside HTTP (CLI, seed scripts, tests): validated and hashed like signup."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arkos.crud import repository as repo
from arkos.crud.payload import clean_payload, require_fields
from arkos.db_errors import is_db_error, translate_db_error
from arkos.errors import ArkosError, ErrorCode

if TYPE_CHECKING:
    from arkos.app import Runtime


async def create_user(
    runtime: Runtime,
    *,
    username: str,
    password: str,
    is_super_user: bool = False,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Insert one user (privileged fields allowed: this is the operator, not a client); returns its wire dict."""
    info = runtime.auth.user_info
    if info is None:
        raise ArkosError(ErrorCode.INTERNAL, f"No user model named {runtime.config.authentication.user_model!r}")
    body = {"username": username, "password": password, "isSuperUser": is_super_user, **(fields or {})}
    values = clean_payload(info, body, creating=True, allow_privileged=True, where="user")
    require_fields(info, values, where="user")
    values = await runtime.passwords.prepare_values(info, values, updating=False)
    try:
        async with runtime.database.engine.begin() as conn:
            return await repo.insert_one(conn, info, values, info.visible)
    except Exception as exc:
        if is_db_error(exc):
            raise translate_db_error(exc) from exc
        raise
