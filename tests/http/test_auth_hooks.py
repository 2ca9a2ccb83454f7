"""Authenticate and authorize hooks from config: before, after, on_error and skip() (reference §2.5, §3.6)."""

from __future__ import annotations

from typing import Any

import pytest

import arkos
from arkos import ArkosError, ConfigError, ErrorCode, Principal
from arkos.auth.hooks import HookCall
from arkos.routing.options import AccessRule
from tests.conftest import client_for
from tests.http.project_helpers import headers_for


def hooks(authenticate: dict[str, Any] | None = None,
          authorize: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"authentication": {"hooks": {"authenticate": authenticate or {}, "authorize": authorize or {}}}}


def teapot(message: str) -> ArkosError:
    return ArkosError(ErrorCode.UNKNOWN, message, status=418)


# -- authenticate: before ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_before_skip_runs_the_route_without_a_user(app_factory, kind: str) -> None:
    """Reference semantics: with authentication skipped there is no user, and authorize lets it pass."""
    seen: list[str] = []

    def sync_skip(call: HookCall) -> None:
        seen.append(call.request.url.path)
        call.skip()

    async def async_skip(call: HookCall) -> None:
        sync_skip(call)

    def after(call: HookCall) -> None:
        seen.append(f"after user={call.ctx.user}")

    app = await app_factory(**hooks({"before": sync_skip if kind == "sync" else async_skip, "after": after}))
    async with client_for(app) as client:
        response = await client.get("/api/comments")  # super users only, normally
    assert response.status_code == 200, response.text
    assert seen == ["/api/comments", "after user=None"]


async def test_before_hooks_run_in_order_and_stop_at_skip(app_factory) -> None:
    order: list[str] = []

    def first(call: HookCall) -> None:
        order.append("first")

    async def second(call: HookCall) -> None:
        order.append("second")
        call.skip()

    def third(call: HookCall) -> None:
        order.append("third")

    app = await app_factory(**hooks({"before": [first, second, third]}))
    async with client_for(app) as client:
        response = await client.get("/api/articles")
    assert response.status_code == 200, response.text
    assert order == ["first", "second"]


def api_key_hook(call: HookCall) -> None:
    """Authenticate service calls by API key; everyone else goes through the token check."""
    if call.request.headers.get("x-api-key") == "service-key":
        call.ctx.user = Principal(id="svc", roles=("Editor",), fields={"username": "service"})
        call.skip()


async def test_before_hook_can_authenticate_a_user_itself(app_factory) -> None:
    app = await app_factory(**hooks({"before": api_key_hook}))
    key = {"x-api-key": "service-key"}
    async with client_for(app) as client:
        created = await client.post("/api/articles", json={"title": "By the service"}, headers=key)
        deleted = await client.delete(f"/api/articles/{created.json()['data']['id']}", headers=key)
        wrong_key = await client.get("/api/articles", headers={"x-api-key": "guess"})
    assert created.status_code == 201, created.text  # authorize ran with the hook's user: Editor may create
    assert deleted.status_code == 403, deleted.text  # ... and may not delete
    assert deleted.json()["meta"]["explain"]["userRoles"] == ["Editor"]
    assert wrong_key.status_code == 401, wrong_key.text


async def test_hooks_apply_to_custom_and_plain_fastapi_routes(app_factory) -> None:
    app = await app_factory(**hooks({"before": api_key_hook}))

    async def create_post(user: arkos.CurrentUser) -> dict[str, object]:
        return {"data": {"by": user["username"]}}

    app.add_api_route("/api/plain/posts", create_post, methods=["POST"],
                      dependencies=[arkos.authorize("Create", "post", ["Editor"])])
    app.add_api_route("/api/plain/purge", create_post, methods=["POST"],
                      dependencies=[arkos.authorize("Purge", "post", ["Admin"])])
    key = {"x-api-key": "service-key"}
    async with client_for(app) as client:
        allowed = await client.post("/api/plain/posts", headers=key)
        denied = await client.post("/api/plain/purge", headers=key)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == {"data": {"by": "service"}}
    assert denied.status_code == 403, denied.text


# -- authenticate: on_error ----------------------------------------------------------------------------------


async def test_before_error_goes_to_on_error_then_is_forwarded(app_factory) -> None:
    received: list[BaseException | None] = []
    raised = teapot("Blocked by a hook")

    def before(call: HookCall) -> None:
        raise raised

    def on_error_one(call: HookCall) -> None:
        received.append(call.error)

    async def on_error_two(call: HookCall) -> None:
        received.append(call.error)

    app = await app_factory(**hooks({"before": before, "on_error": [on_error_one, on_error_two]}))
    async with client_for(app) as client:
        response = await client.get("/api/articles")
    assert response.status_code == 418, response.text
    assert response.json()["message"] == "Blocked by a hook"
    assert received == [raised, raised]  # every on_error gets the original error


async def test_core_error_reaches_on_error(app_factory) -> None:
    codes: list[str] = []

    def on_error(call: HookCall) -> None:
        assert isinstance(call.error, ArkosError)
        codes.append(call.error.code)

    app = await app_factory(**hooks({"on_error": on_error}))
    async with client_for(app) as client:
        missing = await client.get("/api/articles")
        invalid = await client.get("/api/articles", headers={"Authorization": "Bearer not-a-token"})
    assert missing.status_code == 401 and invalid.status_code == 401
    assert codes == ["LoginRequired", "InvalidAuthToken"]


async def test_on_error_raising_a_new_error_replaces_the_original(app_factory) -> None:
    calls: list[str] = []

    def on_error(call: HookCall) -> None:
        calls.append("first")
        raise teapot(f"Replaced {call.error.code}")  # type: ignore[union-attr]

    def never(call: HookCall) -> None:
        calls.append("second")

    app = await app_factory(**hooks({"on_error": [on_error, never]}))
    async with client_for(app) as client:
        response = await client.get("/api/articles")
    assert response.status_code == 418, response.text
    assert response.json()["message"] == "Replaced LoginRequired"
    assert calls == ["first"]  # the chain stops at the new error


async def test_on_error_skip_suppresses_the_error_and_after_runs(app_factory) -> None:
    events: list[str] = []

    async def on_error(call: HookCall) -> None:
        events.append(f"on_error {call.error.code}")  # type: ignore[union-attr]
        call.skip()

    def after(call: HookCall) -> None:
        events.append(f"after user={call.ctx.user}")

    app = await app_factory(**hooks({"on_error": on_error, "after": after}))
    async with client_for(app) as client:
        response = await client.get("/api/comments")
    assert response.status_code == 200, response.text
    assert events == ["on_error LoginRequired", "after user=None"]


# -- authenticate: after -------------------------------------------------------------------------------------


async def test_after_runs_with_the_authenticated_user(app_factory) -> None:
    seen: list[Any] = []

    def after(call: HookCall) -> None:
        seen.append(call.ctx.user.roles)

    app = await app_factory(**hooks({"after": after}))
    async with client_for(app) as client:
        headers = await headers_for(client, app, "editor", roles=("Editor",))
        response = await client.get("/api/articles", headers=headers)
    assert response.status_code == 200, response.text
    assert seen == [("Editor",)]


async def test_after_error_is_returned_directly_without_on_error(app_factory) -> None:
    on_error_calls: list[Any] = []

    async def after(call: HookCall) -> None:
        raise teapot("After hook refused")

    def on_error(call: HookCall) -> None:
        on_error_calls.append(call.error)

    app = await app_factory(**hooks({"after": after, "on_error": on_error}))
    async with client_for(app) as client:
        headers = await headers_for(client, app, "editor", roles=("Editor",))
        on_error_calls.clear()  # login itself runs no authenticate hooks, but be sure
        response = await client.get("/api/articles", headers=headers)
    assert response.status_code == 418, response.text
    assert response.json()["message"] == "After hook refused"
    assert on_error_calls == []


# -- authorize hooks -----------------------------------------------------------------------------------------


async def test_authorize_hooks_receive_action_resource_and_rule(app_factory) -> None:
    seen: list[tuple[Any, ...]] = []

    def before(call: HookCall) -> None:
        seen.append((call.action, call.resource, call.rule, call.ctx.user.id, call.request.method))

    app = await app_factory(**hooks(authorize={"before": before}))
    async with client_for(app) as client:
        await headers_for(client, app, "editor", roles=("Editor",))
        headers = await headers_for(client, app, "reader", roles=("User",))
        listed = await client.get("/api/articles", headers=headers)
        created = await client.post("/api/articles", json={"title": "x"}, headers=headers)
        me = await client.get("/api/users/me", headers=headers)  # authenticate only: no authorize step
    assert listed.status_code == 200 and created.status_code == 403 and me.status_code == 200
    user_id = me.json()["data"]["id"]
    assert seen == [
        ("View", "article", AccessRule(("*",)), user_id, "GET"),
        ("Create", "article", AccessRule(("Admin", "Editor")), user_id, "POST"),
    ]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_authorize_before_skip_bypasses_the_role_check(app_factory, kind: str) -> None:
    def sync_skip(call: HookCall) -> None:
        if call.resource == "comment":
            call.skip()

    async def async_skip(call: HookCall) -> None:
        sync_skip(call)

    app = await app_factory(**hooks(authorize={"before": sync_skip if kind == "sync" else async_skip}))
    async with client_for(app) as client:
        headers = await headers_for(client, app, "reader", roles=("User",))
        comments = await client.get("/api/comments", headers=headers)
        gadgets = await client.get("/api/gadgets", headers=headers)
    async with client_for(app) as anonymous_client:
        anonymous = await anonymous_client.get("/api/comments")
    assert comments.status_code == 200, comments.text
    assert gadgets.status_code == 403, gadgets.text
    assert anonymous.status_code == 401, anonymous.text  # authentication still runs


async def test_authorize_on_error_gets_the_403_and_may_skip_it(app_factory) -> None:
    events: list[str] = []

    def on_error(call: HookCall) -> None:
        assert isinstance(call.error, ArkosError)
        events.append(f"{call.error.code} {call.action} {call.resource}")
        if call.resource == "comment":
            call.skip()

    def after(call: HookCall) -> None:
        events.append(f"after {call.resource}")

    app = await app_factory(**hooks(authorize={"on_error": on_error, "after": after}))
    async with client_for(app) as client:
        headers = await headers_for(client, app, "reader", roles=("User",))
        comments = await client.get("/api/comments", headers=headers)
        gadgets = await client.get("/api/gadgets", headers=headers)
    assert comments.status_code == 200, comments.text
    assert gadgets.status_code == 403, gadgets.text
    assert gadgets.json()["message"] == "You cannot perform view for gadget"
    assert events == ["NotEnoughPermissions View comment", "after comment",
                      "NotEnoughPermissions View gadget"]


async def test_authorize_on_error_may_replace_the_403(app_factory) -> None:
    def on_error(call: HookCall) -> None:
        raise ArkosError(ErrorCode.NOT_FOUND, f"No such {call.resource}")  # hide that the route exists

    app = await app_factory(**hooks(authorize={"on_error": on_error}))
    async with client_for(app) as client:
        headers = await headers_for(client, app, "reader", roles=("User",))
        response = await client.get("/api/gadgets", headers=headers)
    assert response.status_code == 404, response.text
    assert response.json()["message"] == "No such gadget"


async def test_authorize_after_error_is_returned_directly(app_factory) -> None:
    def after(call: HookCall) -> None:
        if call.action == "View":
            raise teapot("Viewing is paused")

    app = await app_factory(**hooks(authorize={"after": after}))
    async with client_for(app) as client:
        headers = await headers_for(client, app, "root", is_super_user=True)
        view = await client.get("/api/articles", headers=headers)
        create = await client.post("/api/articles", json={"title": "x"}, headers=headers)
    assert view.status_code == 418, view.text
    assert create.status_code == 201, create.text


async def test_authorize_hooks_run_for_super_users_too(app_factory) -> None:
    seen: list[str | None] = []

    def before(call: HookCall) -> None:
        seen.append(call.action)

    app = await app_factory(**hooks(authorize={"before": before}))
    async with client_for(app) as client:
        headers = await headers_for(client, app, "root", is_super_user=True)
        response = await client.get("/api/gadgets", headers=headers)
    assert response.status_code == 200, response.text
    assert seen == ["View"]


# -- config --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["not a function", ["still", "not"], 42])
async def test_a_hook_that_is_not_callable_fails_at_startup(app_factory, value: object) -> None:
    with pytest.raises(ConfigError, match="hooks"):
        await app_factory(**hooks({"before": value}))
