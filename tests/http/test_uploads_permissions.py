"""Who may find, upload, update and delete files (DECISIONS 9), and that no byte of the body is read before
authentication and authorization have passed (STYLE P3). Interceptors and hooks of modules/file_upload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import client_for
from tests.http.auth_helpers import assert_error
from tests.http.project_helpers import headers_for, make_project
from tests.http.test_uploads import MULTIPART, PNG, CountingBody, files_of, part_head, path_of, stored_files

GIB = 1024**3
POLICY = {
    "modules/file_upload/policy.py": """
        from arkos import ArkosPolicy

        file_upload_policy = (
            ArkosPolicy("file-upload")
            .rule("View", "*")
            .rule("Create", ["Editor"])
            .rule("Update", ["Editor"])
            .rule("Delete", ["Admin"])
        )
    """,
}
USERS: dict[str, dict[str, Any]] = {
    "super": {"is_super_user": True},
    "admin": {"roles": ("Admin",)},
    "editor": {"roles": ("Editor",)},
    "reader": {"roles": ("User",)},
}
# operation → expected status for anonymous, super, admin, editor, reader; with the policy above and without.
WITH_POLICY = {
    "find_file": (401, 200, 200, 200, 200),
    "upload_file": (401, 200, 403, 200, 403),
    "update_file": (401, 200, 403, 200, 403),
    "delete_file": (401, 204, 204, 403, 403),
}
WITHOUT_POLICY = {
    "find_file": (401, 200, 403, 403, 403),
    "upload_file": (401, 200, 403, 403, 403),
    "update_file": (401, 200, 403, 403, 403),
    "delete_file": (401, 204, 403, 403, 403),
}
CALLERS = ("anonymous", *USERS)


async def _request(
    client: httpx.AsyncClient, operation: str, url: str, headers: dict[str, str]
) -> httpx.Response:
    files = files_of("images", ("a.png", PNG))
    if operation == "find_file":
        return await client.get(path_of(url), headers=headers)
    if operation == "upload_file":
        return await client.post("/api/uploads/images", headers=headers, files=files)
    if operation == "update_file":
        return await client.patch(path_of(url), headers=headers, files=files)
    return await client.delete(path_of(url), headers=headers)


@pytest.mark.parametrize("with_policy", [True, False], ids=["policy", "no-policy"])
@pytest.mark.parametrize("operation", list(WITH_POLICY))
async def test_permission_matrix(
    app_factory, tmp_path: Path, monkeypatch, with_policy: bool, operation: str
) -> None:
    root = tmp_path / "uploads"
    package = make_project(tmp_path, monkeypatch, POLICY if with_policy else {"modules/other/policy.py": ""})
    app = await app_factory(package=package, file_upload={"base_upload_dir": str(root)})
    expected = dict(zip(CALLERS, (WITH_POLICY if with_policy else WITHOUT_POLICY)[operation], strict=True))
    async with client_for(app) as client:
        headers = {name: await headers_for(client, app, name, **options) for name, options in USERS.items()}
        client.cookies.clear()  # every call below carries its own Authorization header (or none)
        for caller in CALLERS:
            seeded = await client.post(
                "/api/uploads/images", headers=headers["super"], files=files_of("images", ("seed.png", PNG))
            )
            url = seeded.json()["data"][0]
            response = await _request(client, operation, url, headers.get(caller, {}))
            assert response.status_code == expected[caller], f"{caller}: {response.text}"
            if response.status_code == 401:
                assert response.json()["code"] == "LoginRequired"
            if response.status_code == 403:
                body = response.json()
                assert body["code"] == "NotEnoughPermissions"
                action = {
                    "find_file": "view",
                    "upload_file": "create",
                    "update_file": "update",
                    "delete_file": "delete",
                }[operation]
                assert body["message"] == f"You cannot perform {action} for file upload"


@pytest.mark.parametrize(("caller", "status"), [("anonymous", 401), ("reader", 403)])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_a_refused_1_gib_upload_is_answered_without_reading_the_body(
    app_factory, tmp_path, monkeypatch, caller, status, method
) -> None:
    root = tmp_path / "uploads"
    app = await app_factory(
        package=make_project(tmp_path, monkeypatch, POLICY), file_upload={"base_upload_dir": str(root)}
    )
    body = CountingBody(GIB, prefix=part_head("images", "huge.png", PNG))
    async with client_for(app) as client:
        headers = await headers_for(client, app, "reader", roles=("User",)) if caller == "reader" else {}
        client.cookies.clear()
        path = "/api/uploads/images" + ("/0123456789abcdef0123456789abcdef.png" if method == "PATCH" else "")
        response = await client.request(
            method, path, content=body, headers={**headers, **MULTIPART, "content-length": str(GIB + 200)}
        )
    assert response.status_code == status, response.text
    assert body.pulled == 0  # not one chunk of the gigabyte was read
    assert stored_files(root) == []


async def test_anonymous_upload_without_content_length_is_401_unread(app_factory, tmp_path) -> None:
    root = tmp_path / "uploads"
    app = await app_factory(file_upload={"base_upload_dir": str(root)})
    body = CountingBody(GIB, prefix=part_head("images", "huge.png", PNG))
    async with client_for(app) as client:
        response = await client.post("/api/uploads/images", content=body, headers=MULTIPART)
    assert_error(response, 401, "LoginRequired")
    assert body.pulled == 0


async def test_without_a_mode_the_routes_are_public_like_generated_routes(app_factory, tmp_path) -> None:
    root = tmp_path / "uploads"
    app = await app_factory(authentication={"mode": None}, file_upload={"base_upload_dir": str(root)})
    async with client_for(app) as client:
        response = await client.post("/api/uploads/images", files=files_of("images", ("a.png", PNG)))
        assert response.status_code == 200, response.text
        served = await client.get(path_of(response.json()["data"][0]))
    assert served.headers["cache-control"] == "public, max-age=31536000"


HOOKS = {
    "modules/file_upload/router.py": """
        hook = {
            "find_file": {"authentication": False},
            "upload_file": {"authentication": {"rule": ["User"]}},
            "disable": {"delete_file": True},
        }
    """,
}


async def test_route_hook_can_open_find_file_grant_upload_and_disable_delete(
    app_factory, tmp_path, monkeypatch
) -> None:
    root = tmp_path / "uploads"
    app = await app_factory(
        package=make_project(tmp_path, monkeypatch, HOOKS), file_upload={"base_upload_dir": str(root)}
    )
    async with client_for(app) as client:
        reader = await headers_for(client, app, "reader", roles=("User",))
        client.cookies.clear()
        response = await client.post(
            "/api/uploads/images", headers=reader, files=files_of("images", ("a.png", PNG))
        )
        assert response.status_code == 200, response.text
        url = response.json()["data"][0]
        anonymous = await client.get(path_of(url))
        assert anonymous.status_code == 200 and anonymous.content == PNG
        assert anonymous.headers["cache-control"].startswith("public")
        assert_error(await client.delete(path_of(url), headers=reader), 405, "MethodNotAllowed")
        assert_error(
            await client.patch(path_of(url), headers=reader, files=files_of("images", ("a.png", PNG))),
            403,
            "NotEnoughPermissions",
        )


async def test_unknown_hook_operation_fails_at_startup(app_factory, tmp_path, monkeypatch) -> None:
    from arkos.config import ConfigError

    package = make_project(
        tmp_path, monkeypatch, {"modules/file_upload/router.py": "hook = {'upload': {}}\n"}
    )
    with pytest.raises(ConfigError, match="upload_file"):
        await app_factory(package=package)


async def test_auth_actions_list_the_file_upload_actions(app_factory, tmp_path, monkeypatch) -> None:
    app = await app_factory(
        package=make_project(tmp_path, monkeypatch, POLICY),
        file_upload={"base_upload_dir": str(tmp_path / "uploads")},
    )
    async with client_for(app) as client:
        root = await headers_for(client, app, "root", is_super_user=True)
        response = await client.get("/api/auth-actions/file-upload", headers=root)
    assert response.status_code == 200, response.text
    actions = {item["action"]: item["roles"] for item in response.json()["data"]}
    assert actions == {"View": ["*"], "Create": ["Editor"], "Update": ["Editor"], "Delete": ["Admin"]}


INTERCEPTORS = {
    "modules/file_upload/interceptors.py": """
        from arkos import ArkosError

        seen = []


        async def before_upload_file(ctx):
            seen.append(("before", ctx.user.id if ctx.user else None))


        async def after_upload_file(ctx):
            files = ctx.additional["uploads"]
            ctx.data["names"] = [f.name for f in files]
            if ctx.body.get("fail") == "yes":
                raise ArkosError("AfterFailed", "after interceptor failed", status=422)


        async def on_upload_file_error(ctx):
            seen.append(("error", ctx.error.code))


        async def after_update_file(ctx):
            raise ArkosError("AfterFailed", "after interceptor failed", status=422)
    """,
}


async def test_interceptors_see_the_files_and_a_failure_after_storing_leaves_none(
    app_factory, tmp_path, monkeypatch
) -> None:
    root = tmp_path / "uploads"
    package = make_project(tmp_path, monkeypatch, INTERCEPTORS)
    app = await app_factory(package=package, file_upload={"base_upload_dir": str(root)})
    import importlib

    seen = importlib.import_module(f"{package}.modules.file_upload.interceptors").seen
    async with client_for(app) as client:
        headers = await headers_for(client, app, "root", is_super_user=True)
        ok = await client.post(
            "/api/uploads/images", headers=headers, files=files_of("images", ("a.png", PNG))
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["names"] == [ok.json()["data"][0].rsplit("/", 1)[1]]
        failed = await client.post(
            "/api/uploads/images",
            headers=headers,
            data={"fail": "yes"},
            files=files_of("images", ("b.png", PNG), ("c.png", PNG)),
        )
        assert_error(failed, 422, "AfterFailed")
        assert len(stored_files(root)) == 1  # b and c were stored, then removed with the failure
        # an update whose after-interceptor fails keeps the old file and drops the new one
        url = ok.json()["data"][0]
        updated = await client.patch(path_of(url), headers=headers, files=files_of("images", ("d.png", PNG)))
        assert_error(updated, 422, "AfterFailed")
        assert [p.name for p in stored_files(root)] == [url.rsplit("/", 1)[1]]
    assert seen[0][0] == "before" and ("error", "AfterFailed") in seen


async def test_openapi_marks_upload_routes_as_secured(app: FastAPI) -> None:
    async with client_for(app) as client:
        schema = (await client.get("/api/openapi.json")).json()
    for method in ("get", "patch", "delete"):
        operation = schema["paths"]["/api/uploads/{file_type}/{file_name}"][method]
        assert operation["security"] and "401" in operation["responses"] and "403" in operation["responses"]
