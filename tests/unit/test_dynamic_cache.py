"""The pieces of dynamic mode without a database: Grants.decide, the cache's generation, bounds and switch."""

from __future__ import annotations

import logging

import pytest

from arkos.auth.dynamic import Grants, PermissionCache
from arkos.auth.invalidation import LocalChannel, RedisChannel
from arkos.auth.permission_models import find_permission_models
from tests.dynamic_sample import models


def grants(**overrides: bool) -> Grants:
    keyed = {tuple(k.split("__")): v for k, v in overrides.items()}
    return Grants(keyed, frozenset({("note", "View"), ("note", "Create")}), ("Reader",), frozenset({"r1"}))


@pytest.mark.parametrize(("resource", "action", "overrides", "expected"), [
    ("note", "View", {}, True),  # a role grants it
    ("note", "Delete", {}, False),  # nothing grants it
    ("note", "View", {"note__View": False}, False),  # Deny beats the role
    ("note", "Delete", {"note__Delete": True}, True),  # Allow without a role
    ("Note", "View", {}, False),  # case-sensitive, no wildcard
    ("note", "view", {}, False),
])
def test_grants_decide(resource: str, action: str, overrides: dict[str, bool], expected: bool) -> None:
    allowed, why = grants(**overrides).decide(resource, action)
    assert allowed is expected
    assert why


def test_a_load_that_raced_an_invalidation_is_not_stored() -> None:
    cache = PermissionCache()
    generation = cache.generation  # a load starts...
    cache.invalidate()  # ... a change is announced meanwhile ...
    cache.put("u1", grants(), generation)  # ... and its (possibly stale) answer must not be kept
    assert cache.get("u1") is None
    cache.put("u1", grants(), cache.generation)
    assert cache.get("u1") is not None


def test_the_cache_is_bounded_and_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PermissionCache(max_users=2, max_age_seconds=60)
    for user in ("a", "b", "c"):
        cache.put(user, grants(), cache.generation)
    assert cache.get("a") is None and cache.get("c") is not None  # least recently stored goes first
    from arkos.auth import dynamic

    now = dynamic.time.monotonic()
    monkeypatch.setattr(dynamic.time, "monotonic", lambda: now + 61)
    assert cache.get("c") is None


def test_disabled_means_nothing_is_stored_or_served(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="arkos.permissions")
    cache = PermissionCache()
    cache.put("u1", grants(), cache.generation)
    cache.disable("listener down")
    assert "permission cache disabled" in caplog.text and "listener down" in caplog.text
    assert cache.get("u1") is None
    cache.put("u1", grants(), cache.generation)
    assert cache.get("u1") is None
    cache.enable()
    assert cache.get("u1") is None  # starts empty
    assert "permission cache enabled" in caplog.text


async def test_channels_start_state() -> None:
    local = PermissionCache()
    await LocalChannel(local).start()
    assert local.enabled
    remote = PermissionCache()
    RedisChannel(remote, client=None, prefix="x:")
    assert remote.enabled is False  # untrusted until its listener has subscribed


def test_permission_models_are_found_among_the_models() -> None:
    found = find_permission_models([models.User, models.Note, models.UserPermission, models.AuthRole,
                                    models.UserRole, models.AuthPermission, models.AuthRolePermission])
    assert found is not None
    assert found.UserPermission.__tablename__ == "user_permission"
    assert find_permission_models([models.User, models.Note]) is None
    tables = set(models.Base.metadata.tables)
    assert {"auth_role", "auth_permission", "auth_role_permission", "user_role", "user_permission"} <= tables
