"""Built-in auth routes (reference §5.1): login, signup, logout, update-password and /users/me."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from arkos.auth.passwords import check_strength, utcnow
from arkos.auth.service import timestamp
from arkos.auth.transport import TokenDelivery
from arkos.config import ConfigError
from arkos.context import RequestContext
from arkos.crud import repository as repo
from arkos.crud.operations import read_json
from arkos.crud.payload import check_password, clean_payload, require_fields
from arkos.crud.query import split_key
from arkos.errors import ArkosError, ErrorCode

if TYPE_CHECKING:
    from arkos.app import Runtime
    from arkos.crud.fields import FieldInfo, ModelInfo, RelationInfo

Handler = Callable[[RequestContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AuthOperation:
    name: str
    method: str
    path: str
    authenticated: bool


AUTH_OPERATIONS: tuple[AuthOperation, ...] = (
    AuthOperation("get_me", "GET", "/users/me", True),
    AuthOperation("update_me", "PATCH", "/users/me", True),
    AuthOperation("delete_me", "DELETE", "/users/me", True),
    AuthOperation("login", "POST", "/auth/login", False),
    AuthOperation("logout", "DELETE", "/auth/logout", True),
    AuthOperation("signup", "POST", "/auth/signup", False),
    AuthOperation("update_password", "POST", "/auth/update-password", True),
)
AUTH_OPERATION_NAMES = tuple(op.name for op in AUTH_OPERATIONS)


class AuthRoutes:
    """The handlers, bound to one runtime; each is one pipeline stage."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        info = runtime.auth.user_info
        assert info is not None
        self.info: ModelInfo = info
        self.delivery = TokenDelivery(runtime.config)
        # A typo in allowed_usernames fails at startup, not at the first login.
        self.identifiers = {field: self._identifier_path(field)
                            for field in runtime.config.authentication.login.allowed_usernames}
        self._password = next(f for f in info.fields.values() if f.is_password)
        self._login_columns = (*info.visible_columns, self._password.column)
        # A plain identifier column gets a statement built once (the SQLite read lane runs those).
        self._login_statements = {
            field: sa.select(*self._login_columns)
            .where(column.column == sa.bindparam("identifier", type_=column.column.type)).limit(2)
            for field, (relations, column) in self.identifiers.items() if not relations
        }
        self.handlers: dict[str, Handler] = {
            "get_me": self.get_me,
            "update_me": self.update_me,
            "delete_me": self.delete_me,
            "login": self.login,
            "logout": self.logout,
            "signup": self.signup,
            "update_password": self.update_password,
        }

    # -- helpers ------------------------------------------------------------------------------

    async def read_body(self, ctx: RequestContext) -> None:
        """The validate stage of the auth routes that take a body: before-interceptors then see `ctx.body`."""
        body = await read_json(ctx.request, self.runtime.config.max_body_bytes)
        if not isinstance(body, dict):
            raise ArkosError(ErrorCode.INVALID_BODY, "The request body must be a JSON object")
        ctx.body = body

    async def _body(self, ctx: RequestContext) -> dict[str, Any]:
        if not isinstance(ctx.body, dict):
            await self.read_body(ctx)
        return ctx.body

    def _me(self, ctx: RequestContext) -> sa.ColumnElement[bool]:
        assert ctx.user is not None
        return self.info.primary_key.column == ctx.user.id

    def _deliver(self, ctx: RequestContext, token: str, body: dict[str, Any] | None) -> None:
        if self.delivery.in_body:
            ctx.data = {**(body or {}), "accessToken": token}
        else:
            ctx.data = body
        ctx.cookies.extend(self.delivery.login_cookies(token))

    def _check_strength(self, password: str, field: str) -> None:
        auth = self.runtime.config.authentication
        check_strength(password, auth.password_regex, auth.password_message, field=field)

    # -- login --------------------------------------------------------------------------------

    def _identifier_path(self, field: str) -> tuple[tuple[RelationInfo, ...], FieldInfo]:
        """`email` or `profile.nickname` → the relations to walk and the visible column at the end."""
        info, relations = self.info, []
        *heads, last = split_key(field) or [""]
        for head in heads:
            rel = info.relation(head)
            target = self.runtime.registry.get(rel.target) if rel is not None else None
            if rel is None or target is None:
                raise ConfigError(f"authentication.login.allowed_usernames: {field!r}: {info.name} has no "
                                  f"relation {head!r}")
            relations.append(rel)
            info = target
        column = info.field(last)  # visible fields only: a sensitive column is never an identifier
        if column is None:
            raise ConfigError(f"authentication.login.allowed_usernames: {field!r}: {info.name} has no "
                              f"field {last!r}")
        return tuple(relations), column

    async def _login_rows(self, ctx: RequestContext, field: str, value: str) -> Sequence[Any]:
        """At most two users with this identifier, read so that no pooled connection waits on bcrypt."""
        prebuilt = self._login_statements.get(field)
        if prebuilt is not None:
            _relations, column = self.identifiers[field]
            try:
                params = {"identifier": column.coerce(value)}
            except ValueError:  # not a value this column can hold: matches nobody, still one bcrypt check
                return []
            lane = ctx.read_lane()
            return await lane.all(prebuilt, params) if lane is not None else await ctx.read_apart(prebuilt, params)
        where = self._identifier_condition(field, value)
        return await ctx.read_apart(sa.select(*self._login_columns).where(where).limit(2))

    def _identifier_condition(self, field: str, value: str) -> sa.ColumnElement[bool]:
        """Plain equality with the value as given: never an operator, never `IS NULL` for "null" (DECISIONS 6)."""
        relations, column = self.identifiers[field]
        try:
            condition: sa.ColumnElement[bool] = column.column == column.coerce(value)
        except ValueError:  # not a value this column can hold: matches nobody, still one bcrypt check
            condition = sa.false()
        for rel in reversed(relations):
            condition = rel.attribute.any(condition) if rel.is_list else rel.attribute.has(condition)
        return condition

    def _username_field(self, ctx: RequestContext) -> str:
        allowed = self.runtime.config.authentication.login.allowed_usernames
        requested = ctx.request.query_params.getlist("usernameField")
        if not requested:
            return allowed[0]
        if len(requested) != 1 or requested[0] not in allowed:
            raise ArkosError(ErrorCode.INVALID_USERNAME_FIELD,
                             meta={"allowed": list(allowed)})
        return requested[0]

    async def login(self, ctx: RequestContext) -> None:
        tokens = self.runtime.auth.tokens
        if not tokens.has_secret:  # the seed: "throws on login attempts when no secret is configured"
            raise ArkosError(ErrorCode.MISSING_JWT_SECRET)
        field = self._username_field(ctx)
        body = await self._body(ctx)
        last = field.split(".")[-1]
        username, password = body.get(last), body.get("password")
        if username in (None, "") or password in (None, ""):
            raise ArkosError(ErrorCode.MISSING_CREDENTIAL_FIELDS, f"Please provide both {last} and password")
        # Only plain strings reach the lookup: an object can never become an operator (DECISIONS 6).
        if not isinstance(username, str) or not isinstance(password, str):
            raise ArkosError(ErrorCode.VALIDATION, f"{last} and password must be strings")
        check_password(password, where="body")
        info = self.info
        # The token is as old as the password it was checked against: issued at the read, not after
        # the (slow) bcrypt check, so a password change stamped after this read kills it.
        now = utcnow()
        found = await self._login_rows(ctx, field, username)
        row = found[0] if len(found) == 1 else None  # an ambiguous identifier logs nobody in
        ok = await self.runtime.passwords.verify(password, row[-1] if row else None)
        if not ok or row is None:
            raise ArkosError(ErrorCode.INCORRECT_CREDENTIALS, f"Incorrect {last} or password")
        fields = dict(zip(info.visible_keys, row))
        if fields.get("deletedSelfAccountAt") is not None:
            raise ArkosError(ErrorCode.INCORRECT_CREDENTIALS, f"Incorrect {last} or password")
        user = self.runtime.auth.check_account(fields, issued_at=None)
        if not await self._still_password(await ctx.connection(), user.id, row[-1], now):
            raise ArkosError(ErrorCode.INCORRECT_CREDENTIALS, f"Incorrect {last} or password")
        token, _claims = tokens.issue(user.id, now=max(now.timestamp(), self._changed_at(fields)))
        ctx.user = user
        ctx.additional["user"] = user
        self._deliver(ctx, token, None)

    async def _still_password(self, conn: AsyncConnection, user_id: Any, hashed: str,
                              now: dt.datetime) -> bool:
        """Write the user's row only if its password is still `hashed` (concurrency guarantee, see
        docs/auth-routes.md): a password change committed since the read makes this login fail, and one
        in progress holds the row (or SQLite's write lock) until it commits, so this waits and then fails."""
        info = self.info
        # lastLoginAt is a required user column (REQUIRED_USER_FIELDS, checked at startup).
        result = await conn.execute(sa.update(info.table).values({info.fields["lastLoginAt"].key: now})
                                    .where(info.primary_key.column == user_id, self._password.column == hashed))
        return bool(result.rowcount == 1)

    @staticmethod
    def _changed_at(fields: dict[str, Any]) -> float:
        changed = fields.get("passwordChangedAt")
        return timestamp(changed) if changed is not None else 0.0

    # -- signup, logout, update-password --------------------------------------------------------

    async def signup(self, ctx: RequestContext) -> None:
        body = await self._body(ctx)
        values = clean_payload(self.info, body, creating=True, allow_privileged=False, where="body")
        require_fields(self.info, values, where="body")
        for f in self.info.fields.values():
            if f.is_password and f.key in values:
                self._check_strength(values[f.key], f.wire)
        values = await self.runtime.passwords.prepare_values(self.info, values, updating=False)
        row = await repo.insert_one(await ctx.connection(), self.info, values, self.info.visible)
        ctx.data, ctx.status = {"data": row}, 201

    async def logout(self, ctx: RequestContext) -> None:
        assert ctx.token_id is not None and ctx.token_expires_at is not None
        await self.runtime.auth.revocations.revoke(await ctx.connection(), ctx.token_id, ctx.token_expires_at)
        ctx.cookies.extend(self.delivery.logout_cookies())
        ctx.status = 204

    async def update_password(self, ctx: RequestContext) -> None:
        body = await self._body(ctx)
        current, new = body.get("currentPassword"), body.get("newPassword")
        if not current or not new:
            raise ArkosError(ErrorCode.MISSING_PASSWORD_FIELDS)
        current = check_password(current, where="body", field="currentPassword")
        new = check_password(new, where="body", field="newPassword")
        info = self.info
        password_field = self._password
        # Read apart, as login does: no pooled connection waits on the two bcrypt runs below; the write
        # checks the password is still `stored`.
        found = await ctx.read_apart(sa.select(password_field.column).where(self._me(ctx)))
        stored = found[0][0] if found else None
        if not await self.runtime.passwords.verify(current, stored):
            raise ArkosError(ErrorCode.INCORRECT_CURRENT_PASSWORD)
        self._check_strength(new, "newPassword")
        hashed = await self.runtime.passwords.hash(new)
        conn = await ctx.connection()
        # Only if the password is still the one just verified: of two racing changes, the second gets a 400.
        written = await conn.execute(sa.update(info.table).values({password_field.key: hashed})
                                     .where(self._me(ctx), password_field.column == stored))
        if written.rowcount != 1:
            raise ArkosError(ErrorCode.INCORRECT_CURRENT_PASSWORD)
        # Stamped only now that this transaction holds the row: every login that read the old password
        # has either committed already (its token is older than the stamp) or waits and fails (login).
        changed = utcnow()
        if "passwordChangedAt" in info.fields:
            await conn.execute(sa.update(info.table).where(self._me(ctx))
                               .values({info.fields["passwordChangedAt"].key: changed}))
        issued = changed.timestamp()
        token, _claims = self.runtime.auth.tokens.issue(ctx.user.id if ctx.user else None, now=issued)
        self._deliver(ctx, token, {"status": "success", "message": "Password updated successfully!"})

    # -- /users/me ------------------------------------------------------------------------------

    async def get_me(self, ctx: RequestContext) -> None:
        row = await repo.find_one(await ctx.connection(), self.info, self._me(ctx), self.info.visible, (),
                                  self.runtime.registry)
        if row is None:
            raise ArkosError(ErrorCode.USER_NOT_FOUND)
        ctx.data = {"data": row}

    async def update_me(self, ctx: RequestContext) -> None:
        body = await self._body(ctx)
        values = clean_payload(self.info, body, creating=False, allow_privileged=False, where="body",
                               allow_password=False)
        row = await repo.update_one(await ctx.connection(), self.info, self._me(ctx), values, self.info.visible)
        if row is None:
            raise ArkosError(ErrorCode.USER_NOT_FOUND)
        ctx.data = {"data": row}

    async def delete_me(self, ctx: RequestContext) -> None:
        info = self.info
        if "deletedSelfAccountAt" not in info.fields:
            raise ArkosError(ErrorCode.INTERNAL, "The user model has no deleted_self_account_at column")
        conn = await ctx.connection()
        await conn.execute(
            sa.update(info.table).where(self._me(ctx)).values({info.fields["deletedSelfAccountAt"].key: utcnow()})
        )
        assert ctx.token_id is not None and ctx.token_expires_at is not None
        await self.runtime.auth.revocations.revoke(conn, ctx.token_id, ctx.token_expires_at)
        ctx.cookies.extend(self.delivery.logout_cookies())
        ctx.data = {"message": "Account deleted successfully"}
