"""AuthService: the authenticate (401) and authorize (403) stages of the pipeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa

from arkos.auth.hooks import HookCall, HookChain
from arkos.auth.principal import Principal, role_names
from arkos.auth.revocation import DatabaseRevocations, RevocationStore
from arkos.auth.tokens import Claims, TokenService
from arkos.auth.csrf import OriginCheck
from arkos.auth.transport import read_token
from arkos.config import ArkosConfig
from arkos.context import RequestContext
from arkos.crud.fields import ModelInfo
from arkos.errors import ArkosError, ErrorCode
from arkos.readlane import fetch_first
from arkos.routing.options import Requirement


def timestamp(value: dt.datetime) -> float:
    # SQLite hands back naive datetimes; arkos only ever writes UTC.
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()


_VERDICTS_MAX = 4096  # dropped whole when full, like the token memo


class AuthService:
    def __init__(
        self,
        config: ArkosConfig,
        user_info: ModelInfo | None,
        tokens: TokenService,
        revocations: RevocationStore,
    ) -> None:
        self.config = config
        self.mode = config.authentication.mode
        self.user_info = user_info
        self.tokens = tokens
        self.revocations = revocations
        self.permissions: Any = None  # DynamicPermissions, set by init in dynamic mode
        self.origin_check = OriginCheck(config)
        hooks = config.authentication.hooks
        self.authenticate_hooks = HookChain.from_config(hooks.authenticate, "authentication.hooks.authenticate")
        self.authorize_hooks = HookChain.from_config(hooks.authorize, "authentication.hooks.authorize")
        self._statement: Any = None
        # jti → (the read lane's data_version when its user row was read, the token's user id, the
        # Principal that row gave): see _authenticate.
        self._verdicts: dict[str, tuple[Any, Any, Principal]] = {}
        self._keys: tuple[str, ...] = ()
        if user_info is not None:
            self._build_statement(user_info)
        # The pipeline's two stages (401, 403). Without hooks, the usual case, the checks themselves:
        # one coroutine less per request.
        self.authenticate: Callable[[RequestContext], Awaitable[None]] = (
            self._authenticate if self.authenticate_hooks.is_empty else self._authenticate_with_hooks)
        self.authorize: Callable[[RequestContext, Requirement], Awaitable[None]] = (
            self._authorize if self.authorize_hooks.is_empty else self._authorize_with_hooks)

    def _build_statement(self, info: ModelInfo) -> None:
        # One round trip per authenticated request: the user's visible columns and, with the database
        # deny-list, whether this token was revoked.
        columns: list[Any] = list(info.visible_columns)
        if self.revocations.check_in_sql:
            columns.append(DatabaseRevocations.revoked_clause(sa.bindparam("jti")).label("__revoked__"))
        self._statement = sa.select(*columns).where(info.primary_key.column == sa.bindparam("uid"))
        self._keys = info.visible_keys
        role_field = info.fields.get("roles") or info.fields.get("role")
        self._role_key = role_field.wire if role_field else None

    async def _authenticate_with_hooks(self, ctx: RequestContext) -> None:
        await self.authenticate_hooks.run(HookCall(ctx), lambda: self._authenticate(ctx))

    async def _authenticate(self, ctx: RequestContext) -> None:
        token, source = read_token(ctx.request)
        if token is None:
            raise ArkosError(ErrorCode.LOGIN_REQUIRED)
        if source == "cookie":
            self.origin_check.check(ctx.request)  # 403 CsrfFailed for a cross-site unsafe request
        claims = self.tokens.decode(token)
        lane = ctx.read_lane()
        # SQLite: nothing committed to the file since this token's user row was read and checked (by any
        # connection or process) means the same row, so the same verdict (DECISIONS 3 still holds).
        version = lane.data_version() if lane is not None else None
        seen = self._verdicts.get(claims.token_id) if version is not None else None
        if seen is not None and seen[0] == version and seen[1] == claims.user_id:
            principal = seen[2]
        else:
            principal = await self._load(ctx, claims)
            if version is not None:  # read after `version` was taken: at least that fresh
                if len(self._verdicts) >= _VERDICTS_MAX:
                    self._verdicts.clear()
                self._verdicts[claims.token_id] = (version, claims.user_id, principal)
        if not self.revocations.check_in_sql and await self._is_revoked(claims.token_id):
            raise ArkosError(ErrorCode.INVALID_AUTH_TOKEN)
        ctx.user = principal.for_request()
        ctx.token_id, ctx.token_expires_at = claims.token_id, claims.expires_at

    async def _load(self, ctx: RequestContext, claims: Claims) -> Principal:
        """The user row and the revocation check in one statement, then the account states."""
        info = self.user_info
        assert info is not None and self._statement is not None
        try:
            user_id = info.primary_key.coerce(claims.user_id)
        except ValueError:
            raise ArkosError(ErrorCode.INVALID_AUTH_TOKEN) from None
        row = await fetch_first(await ctx.reader(), self._statement, {"uid": user_id, "jti": claims.token_id})
        if row is None:
            raise ArkosError(ErrorCode.USER_NO_LONGER_EXISTS)
        if self.revocations.check_in_sql and row[-1]:
            raise ArkosError(ErrorCode.INVALID_AUTH_TOKEN)
        return self.check_account(dict(zip(self._keys, row)), issued_at=claims.issued_at)

    async def _is_revoked(self, token_id: str) -> bool:
        try:
            return await self.revocations.is_revoked(token_id)
        except Exception as exc:  # fail closed: an unanswerable revocation check lets nobody in
            raise ArkosError(ErrorCode.SERVICE_UNAVAILABLE, "Token revocation store unavailable",
                             meta={"reason": "revocation_store_unavailable"}) from exc

    def check_account(self, fields: dict[str, Any], *, issued_at: float | None) -> Principal:
        """Account states on every request (DECISIONS 3): deleted, inactive, password changed."""
        if fields.get("deletedSelfAccountAt") is not None:
            raise ArkosError(ErrorCode.USER_NO_LONGER_EXISTS)
        if fields.get("isActive") is False:
            raise ArkosError(ErrorCode.ACCOUNT_INACTIVE)
        changed = fields.get("passwordChangedAt")
        if issued_at is not None and changed is not None and issued_at < timestamp(changed):
            raise ArkosError(ErrorCode.PASSWORD_CHANGED)
        assert self.user_info is not None
        return Principal(
            id=fields[self.user_info.primary_key.wire],
            is_super_user=bool(fields.get("isSuperUser")),
            is_staff=bool(fields.get("isStaff")),
            roles=role_names(fields.get(self._role_key)) if self._role_key else (),
            fields=fields,
            decider=self.decide,
        )

    async def _authorize_with_hooks(self, ctx: RequestContext, requirement: Requirement) -> None:
        call = HookCall(ctx, action=requirement.action, resource=requirement.resource, rule=requirement.rule)
        await self.authorize_hooks.run(call, lambda: self._authorize(ctx, requirement))

    def _passes_at_once(self, user: Principal | None, requirement: Requirement) -> bool:
        """The common cases, decided without awaiting anything or explaining why."""
        if user is None:  # authentication was skipped by a hook: nothing to authorize (reference §3.2)
            return True
        return user.is_super_user or (self.mode == "static" and requirement.rule.grants(user.roles))

    async def _authorize(self, ctx: RequestContext, requirement: Requirement) -> None:
        user = ctx.user
        if self._passes_at_once(user, requirement):
            return
        assert user is not None
        # Dynamic mode reads grants (on a cache miss) on the request's own connection, not a second one.
        allowed, decided_by = await self.decide(user, requirement, ctx.connection)
        if not allowed:
            meta: dict[str, Any] = {}
            if self.config.is_development:
                meta["explain"] = self.explain(user, requirement, decided_by)
            raise ArkosError(ErrorCode.NOT_ENOUGH_PERMISSIONS, requirement.denial_message(), meta=meta)

    def explain(self, user: Principal, requirement: Requirement, decided_by: str) -> dict[str, Any]:
        """Why a decision went the way it did: a development 403's `meta.explain` and `arkos can`."""
        return {
            "resource": requirement.resource,
            "action": requirement.action,
            "mode": self.mode,
            "ruleRoles": list(requirement.rule.roles),
            "userRoles": list(user.roles),
            "decidedBy": decided_by,
        }

    async def decide(self, user: Principal, requirement: Requirement, conn: Any = None) -> tuple[bool, str]:
        """The static decision and why; dynamic mode (database permissions) is decided elsewhere."""
        if user.is_super_user:
            return True, "super user"
        rule = requirement.rule
        if self.mode == "static":
            if rule.allows_anyone:
                return True, "rule allows any authenticated user (*)"
            if not rule.roles:
                return False, "no rule grants this action: only super users may perform it"
            if not user.roles:
                return False, "the user has no role"
            matched = [r for r in user.roles if r in rule.roles]
            if matched:
                return True, f"role {matched[0]} is granted"
            return False, "none of the user's roles is granted"
        if self.permissions is not None:
            return await self.permissions.decide(user, requirement, conn)
        return False, "dynamic mode: no database permission grants this action"
