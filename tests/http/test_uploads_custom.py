"""`uploads=` on ArkosRouter routes: single, array and fields; the same limits, content checks and cleanup;
the guard runs before the body is read; files are reachable through `UploadedFiles` and the served URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from arkos.config import ConfigError
from tests.conftest import client_for
from tests.http.auth_helpers import assert_error
from tests.http.project_helpers import headers_for, make_project
from tests.http.test_uploads import (
    HTML,
    MULTIPART,
    PDF,
    PNG,
    STORED_NAME,
    CountingBody,
    files_of,
    part_head,
    stored_files,
)

ROUTER = {
    "modules/profile/router.py": """
        from arkos import ArkosError, ArkosRouter
        from arkos.uploads import UploadedFiles

        router = ArkosRouter(prefix="/api/profile", uploads={"file_type": "images"})


        @router.post("/avatar", authentication=True, uploads={"type": "single", "field": "avatar"})
        async def avatar(uploads: UploadedFiles) -> dict[str, object]:
            file = uploads.file
            return {"body": uploads.body, "form": uploads.form, "name": file.name, "size": file.size,
                    "originalName": file.original_name, "url": file.url}


        @router.post("/gallery", authentication=True,
                     uploads={"type": "array", "field": "photos", "max_count": 2, "max_size": 1000,
                              "allowed_types": ["png"]})
        async def gallery(uploads: UploadedFiles) -> dict[str, object]:
            return {"body": uploads.body}


        @router.post("/papers", authentication={"resource": "paper", "action": "Create", "rule": ["Editor"]},
                     uploads={"type": "fields", "fields": {"cover": 1, "pages": 3}, "file_type": "documents",
                              "required": False})
        async def papers(uploads: UploadedFiles) -> dict[str, object]:
            return {"body": uploads.body, "count": sum(len(v) for v in uploads.files.values())}


        @router.post("/broken", authentication=True, uploads={"type": "single", "field": "avatar"})
        async def broken(uploads: UploadedFiles) -> dict[str, object]:
            raise ArkosError("Broken", "the endpoint failed after the upload", status=409)
    """,
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
async def project_app(app_factory, tmp_path, monkeypatch, root):
    return await app_factory(
        package=make_project(tmp_path, monkeypatch, ROUTER), file_upload={"base_upload_dir": str(root)}
    )


async def test_single_upload_reaches_the_endpoint_merged_into_the_form(project_app, root) -> None:
    async with client_for(project_app) as client:
        headers = await headers_for(client, project_app, "reader", roles=("User",))
        response = await client.post(
            "/api/profile/avatar",
            headers=headers,
            data={"nickname": "neo"},
            files=files_of("avatar", ("me.png", PNG)),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert STORED_NAME.match(body["name"]) and body["size"] == len(PNG)
        assert body["originalName"] == "me.png"
        assert body["body"] == {"nickname": "neo", "avatar": f"/api/uploads/images/{body['name']}"}
        assert body["form"] == {"nickname": "neo"}
        assert body["url"] == f"http://test/api/uploads/images/{body['name']}"
        root_headers = await headers_for(client, project_app, "root", is_super_user=True)
        served = await client.get(
            body["body"]["avatar"], headers=root_headers
        )  # the standard route serves it
        assert served.status_code == 200 and served.content == PNG
    assert [p.name for p in stored_files(root)] == [body["name"]]


async def test_custom_route_refuses_anonymous_upload_before_reading_the_body(project_app, root) -> None:
    body = CountingBody(1024**3, prefix=part_head("avatar", "me.png", PNG))
    async with client_for(project_app) as client:
        response = await client.post(
            "/api/profile/avatar", content=body, headers={**MULTIPART, "content-length": str(1024**3 + 200)}
        )
    assert_error(response, 401, "LoginRequired")
    assert body.pulled == 0
    assert stored_files(root) == []


async def test_custom_route_refuses_unauthorized_upload_before_reading_the_body(project_app, root) -> None:
    body = CountingBody(1024**3, prefix=part_head("cover", "a.pdf", PDF))
    async with client_for(project_app) as client:
        headers = await headers_for(client, project_app, "reader", roles=("User",))
        client.cookies.clear()
        response = await client.post("/api/profile/papers", content=body, headers={**headers, **MULTIPART})
    assert_error(response, 403, "NotEnoughPermissions")
    assert body.pulled == 0


async def test_array_upload_limits(project_app, root) -> None:
    async with client_for(project_app) as client:
        headers = await headers_for(client, project_app, "reader", roles=("User",))
        ok = await client.post(
            "/api/profile/gallery", headers=headers, files=files_of("photos", ("a.png", PNG), ("b.png", PNG))
        )
        assert ok.status_code == 200, ok.text
        assert len(ok.json()["body"]["photos"]) == 2
        cases = [
            (files_of("photos", ("a.png", PNG), ("b.png", PNG), ("c.png", PNG)), 400, "TooManyFiles"),
            (files_of("photos", ("a.png", PNG), ("big.png", PNG + b"\x00" * 1000)), 413, "FileTooLarge"),
            (files_of("photos", ("a.jpg", b"\xff\xd8\xff\xe0")), 400, "FileTypeNotAllowed"),
            (files_of("photos", ("a.png", HTML)), 400, "FileContentMismatch"),
            (files_of("avatar", ("a.png", PNG)), 400, "UnexpectedFileField"),
            ([], 400, "NoFileOrFilesAttached"),
        ]
        for files, status, code in cases:
            response = await client.post(
                "/api/profile/gallery",
                headers=headers,
                files=files or None,
                data={"x": "1"} if not files else None,
            )
            assert_error(response, status, code)
    assert len(stored_files(root)) == 2  # only the successful request's files


async def test_fields_upload_with_optional_files(project_app, root) -> None:
    async with client_for(project_app) as client:
        headers = await headers_for(client, project_app, "editor", roles=("Editor",))
        files = files_of("cover", ("c.pdf", PDF)) + files_of("pages", ("1.pdf", PDF), ("2.pdf", PDF))
        response = await client.post("/api/profile/papers", headers=headers, files=files, data={"title": "T"})
        assert response.status_code == 200, response.text
        body = response.json()["body"]
        assert body["title"] == "T" and body["cover"].startswith("/api/uploads/documents/")
        assert len(body["pages"]) == 2 and response.json()["count"] == 3
        empty = await client.post("/api/profile/papers", headers=headers, data={"title": "none"})
        assert empty.status_code == 200, empty.text
        assert empty.json()["body"] == {"title": "none", "pages": []}
        too_many = await client.post(
            "/api/profile/papers", headers=headers, files=files_of("cover", ("a.pdf", PDF), ("b.pdf", PDF))
        )
        assert_error(too_many, 400, "TooManyFiles")
    assert len(stored_files(root)) == 3


async def test_files_are_removed_when_the_endpoint_fails(project_app, root) -> None:
    async with client_for(project_app) as client:
        headers = await headers_for(client, project_app, "reader", roles=("User",))
        response = await client.post(
            "/api/profile/broken", headers=headers, files=files_of("avatar", ("a.png", PNG))
        )
    assert_error(response, 409, "Broken")
    assert stored_files(root) == []


async def test_upload_routes_disabled_still_allows_custom_uploads(
    app_factory, tmp_path, monkeypatch, root
) -> None:
    app = await app_factory(
        package=make_project(tmp_path, monkeypatch, ROUTER),
        file_upload={"enabled": False, "base_upload_dir": str(root)},
    )
    async with client_for(app) as client:
        headers = await headers_for(client, app, "reader", roles=("User",))
        response = await client.post(
            "/api/profile/avatar", headers=headers, files=files_of("avatar", ("a.png", PNG))
        )
    assert response.status_code == 200, response.text
    assert len(stored_files(root)) == 1


async def test_custom_upload_route_in_openapi_has_a_multipart_body(project_app) -> None:
    async with client_for(project_app) as client:
        schema = (await client.get("/api/openapi.json")).json()
    body = schema["paths"]["/api/profile/papers"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert set(body["schema"]["properties"]) == {"cover", "pages"}


BAD_ROUTES = {
    "form parameter": (
        'from fastapi import Form\n\n@router.post("/x", uploads={"type": "single", "field": "f"})\n'
        "async def x(name: str = Form(...)) -> None: ...\n",
        "remove the body parameter",
    ),
    "unknown key": (
        '@router.post("/x", uploads={"type": "single", "field": "f", "dir": "/tmp"})\n'
        "async def x() -> None: ...\n",
        "unknown uploads key",
    ),
    "bad type": (
        '@router.post("/x", uploads={"type": "many", "field": "f"})\nasync def x() -> None: ...\n',
        "uploads.type",
    ),
    "no field": (
        '@router.post("/x", uploads={"type": "array"})\nasync def x() -> None: ...\n',
        "needs field",
    ),
    "bad extension": (
        '@router.post("/x", uploads={"type": "single", "field": "f", "allowed_types": ["p.ng"]})\n'
        "async def x() -> None: ...\n",
        "allowed_types",
    ),
    "bad file type": (
        '@router.post("/x", uploads={"type": "single", "field": "f", "file_type": "scripts"})\n'
        "async def x() -> None: ...\n",
        "file_type",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROUTES))
def test_bad_uploads_declarations_fail_when_the_route_is_declared(case) -> None:
    from arkos import ArkosRouter

    source, message = BAD_ROUTES[case]
    with pytest.raises(ConfigError, match=message):
        exec(source, {"router": ArkosRouter()})  # noqa: S102 - the route declaration itself must fail
