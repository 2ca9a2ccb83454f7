"""The `/api/uploads` routes over HTTP: each route and failure, limits, content checks, traversal, serving
(reference §7, DECISIONS 9 and 11). Helpers at the top are shared with the other test_uploads_* files."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import client_for
from tests.http.auth_helpers import assert_error

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"%" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
STORED_NAME = re.compile(r"^[0-9a-f]{32}\.[a-z0-9]+$")
BOUNDARY = "arkosboundary"


class CountingBody:
    """An async request body: `prefix`, then `total` zero bytes; `pulled` counts the chunks read."""

    def __init__(self, total: int, *, prefix: bytes = b"", chunk: int = 64 * 1024) -> None:
        self.total, self.prefix, self.chunk = total, prefix, chunk
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.prefix:
            self.pulled += 1
            yield self.prefix
        sent = 0
        while sent < self.total:
            self.pulled += 1
            size = min(self.chunk, self.total - sent)
            sent += size
            yield b"\x00" * size

    @property
    def chunks(self) -> int:
        return (1 if self.prefix else 0) + -(-self.total // self.chunk)


def part_head(field: str, filename: str, content: bytes = b"") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + content


MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def stored_files(root: Path) -> list[Path]:
    """Every entry under the upload root, hidden temp files included (a failed upload must leave none)."""
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if not p.is_dir() or p.is_symlink())


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def files_of(field: str, *items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(field, (name, content, "application/octet-stream")) for name, content in items]


# -- fixtures: the default app stores under tmp_path -------------------------------------------------------


@pytest.fixture
def upload_root(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
async def app(app_factory, upload_root: Path) -> FastAPI:
    return await app_factory(file_upload={"base_upload_dir": str(upload_root)})


@pytest.fixture
def admin(users: dict[str, dict[str, Any]]) -> dict[str, str]:
    return users["admin"]["headers"]


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    file_type: str = "images",
    *items: tuple[str, bytes],
    field: str | None = None,
    **params: str,
) -> httpx.Response:
    items = items or (("photo.png", PNG),)
    return await client.post(
        f"/api/uploads/{file_type}",
        params=params or None,
        headers=headers,
        files=files_of(field or file_type, *items),
    )


# -- upload_file -------------------------------------------------------------------------------------------


async def test_upload_one_file_returns_its_url_in_a_list(client, admin, upload_root) -> None:
    response = await upload(client, admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "1 files uploaded successfully"  # the reference's wording, kept on the wire
    [url] = body["data"]
    assert url.startswith("http://test/api/uploads/images/")
    name = url.rsplit("/", 1)[1]
    assert STORED_NAME.match(name), name  # generated, never the client's name
    assert (upload_root / "images" / name).read_bytes() == PNG


async def test_upload_several_files_in_one_request(client, admin, upload_root) -> None:
    response = await upload(
        client, admin, "documents", ("a.pdf", PDF), ("notes.txt", b"hello\n"), ("data.json", b'{"a": 1}')
    )
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "3 files uploaded successfully"
    assert sorted(p.suffix for p in stored_files(upload_root)) == [".json", ".pdf", ".txt"]


@pytest.mark.parametrize(
    ("file_type", "name", "content"),
    [
        ("images", "x.jpeg", JPEG),
        ("images", "X.PNG", PNG),
        ("videos", "clip.mp4", MP4),
        ("documents", "report.pdf", PDF),
        ("files", "archive.zip", b"PK\x03\x04" + b"\x00" * 40),
        ("files", "song.mp3", b"ID3\x04" + b"\x00" * 40),
    ],
)
async def test_each_file_type_accepts_its_own_content(client, admin, file_type, name, content) -> None:
    response = await upload(client, admin, file_type, (name, content))
    assert response.status_code == 200, response.text
    assert response.json()["data"][0].endswith("." + name.rsplit(".", 1)[1].lower())


async def test_unknown_file_type_is_400_invalid_file_type(client, admin) -> None:
    response = await upload(client, admin, "scripts", ("a.png", PNG), field="scripts")
    assert_error(response, 400, "InvalidFileType")


async def test_no_file_is_400_no_file_or_files_attached(client, admin, upload_root) -> None:
    response = await client.post(
        "/api/uploads/images",
        headers=admin,
        data={"caption": "none"},
        files=[("other", ("", b"", "application/octet-stream"))],
    )
    body = assert_error(
        response,
        400,
        "NoFileOrFilesAttached",
        "No file or files were attached on field images on the request body as form data.",
    )
    assert body["meta"] == {"field": "images"}
    response = await client.post("/api/uploads/images", headers=admin, json={"not": "multipart"})
    assert_error(response, 400, "NoFileOrFilesAttached")
    assert stored_files(upload_root) == []


async def test_file_on_another_field_is_400_unexpected_file_field(client, admin, upload_root) -> None:
    response = await upload(client, admin, "images", ("a.png", PNG), field="avatar")
    body = assert_error(response, 400, "UnexpectedFileField")
    assert body["meta"] == {"field": "avatar"}
    assert stored_files(upload_root) == []


async def test_too_many_files_is_400_and_keeps_none(app_factory, upload_root) -> None:
    app = await app_factory(
        file_upload={"base_upload_dir": str(upload_root), "restrictions": {"images": {"max_count": 2}}}
    )
    async with client_for(app) as client:
        headers = await _admin_headers(app, client)
        response = await upload(client, headers, "images", ("a.png", PNG), ("b.png", PNG), ("c.png", PNG))
    body = assert_error(response, 400, "TooManyFiles")
    assert body["meta"]["maxCount"] == 2
    assert stored_files(upload_root) == []  # the two stored before the third are removed


async def test_file_over_the_size_limit_is_413_and_keeps_none(app_factory, upload_root) -> None:
    app = await app_factory(
        file_upload={
            "base_upload_dir": str(upload_root),
            "restrictions": {"images": {"max_size_bytes": 1000}},
        }
    )
    async with client_for(app) as client:
        headers = await _admin_headers(app, client)
        ok = await upload(client, headers, "images", ("small.png", PNG))
        assert ok.status_code == 200, ok.text
        response = await upload(client, headers, "images", ("a.png", PNG), ("big.png", PNG + b"\x00" * 1000))
    body = assert_error(response, 413, "FileTooLarge")
    assert body["meta"]["maxSizeBytes"] == 1000
    assert len(stored_files(upload_root)) == 1  # only the earlier request's file


async def test_size_limit_is_enforced_while_streaming_a_body_without_length(app_factory, upload_root) -> None:
    app = await app_factory(
        file_upload={
            "base_upload_dir": str(upload_root),
            "restrictions": {"files": {"max_size_bytes": 256 * 1024}},
        }
    )
    body = CountingBody(64 * 1024 * 1024, prefix=part_head("files", "big.zip", b"PK\x03\x04"))
    async with client_for(app) as client:
        headers = await _admin_headers(app, client)
        response = await client.post("/api/uploads/files", headers={**headers, **MULTIPART}, content=body)
    assert_error(response, 413, "FileTooLarge")
    assert body.pulled < 10, body.pulled  # stopped right after the limit, not at the end of 64 MiB
    assert stored_files(upload_root) == []


async def test_declared_length_over_the_ceiling_is_413_before_reading(app_factory, upload_root) -> None:
    app = await app_factory(
        file_upload={
            "base_upload_dir": str(upload_root),
            "restrictions": {"images": {"max_size_bytes": 1000, "max_count": 1}},
        }
    )
    body = CountingBody(50 * 1024 * 1024, prefix=part_head("images", "a.png", PNG))
    async with client_for(app) as client:
        headers = await _admin_headers(app, client)
        response = await client.post(
            "/api/uploads/images",
            content=body,
            headers={**headers, **MULTIPART, "content-length": str(50 * 1024 * 1024)},
        )
    assert_error(response, 413, "FileTooLarge")
    assert body.pulled == 0


async def test_malformed_multipart_is_400_and_keeps_none(client, admin, upload_root) -> None:
    truncated = part_head("images", "a.png", PNG + b"\x00" * 70_000)  # no closing boundary
    response = await client.post("/api/uploads/images", headers={**admin, **MULTIPART}, content=truncated)
    assert_error(response, 400, "InvalidRequestBody")
    assert stored_files(upload_root) == []


# -- what is accepted: anchored allow-lists and sniffed content --------------------------------------------


@pytest.mark.parametrize(
    ("file_type", "name", "content"),
    [
        ("images", "logo.svg", SVG),
        ("documents", "page.html", HTML),
        ("documents", "page.htm", HTML),
        ("documents", "feed.xml", b"<?xml version='1.0'?><a/>"),
        ("images", "photo.png.html", HTML),
        ("images", "photo.jpgx", JPEG),  # the reference's unanchored regex let this through
        ("images", "photo", PNG),
        ("images", ".png", PNG),
        ("files", "setup.exe", b"MZ\x90\x00"),
        ("files", "run.sh", b"#!/bin/sh\n"),
    ],
)
async def test_risky_or_unlisted_extensions_are_400_file_type_not_allowed(
    client, admin, upload_root, file_type, name, content
) -> None:
    response = await upload(client, admin, file_type, (name, content))
    body = assert_error(response, 400, "FileTypeNotAllowed")
    assert body["meta"] == {"filename": name}
    assert stored_files(upload_root) == []


@pytest.mark.parametrize(
    ("file_type", "name", "content"),
    [
        ("images", "photo.png", HTML),  # html posing as an image
        ("images", "photo.html.png", SVG),
        ("images", "photo.jpg", PNG),  # a png is not a jpeg
        ("documents", "report.pdf", b"MZ\x90\x00 not a pdf"),
        ("documents", "notes.txt", b"\x00\x01\x02binary"),
        ("videos", "clip.mp4", b"RIFF\x00\x00\x00\x00AVI "),
        ("images", "empty.png", b""),
    ],
)
async def test_content_that_does_not_match_its_extension_is_400(
    client, admin, upload_root, file_type, name, content
) -> None:
    response = await upload(client, admin, file_type, (name, content))
    assert_error(response, 400, "FileContentMismatch")
    assert stored_files(upload_root) == []


async def test_the_clients_content_type_is_ignored(client, admin) -> None:
    files = [("images", ("photo.png", PNG, "text/html"))]
    response = await client.post("/api/uploads/images", headers=admin, files=files)
    assert response.status_code == 200, response.text
    served = await client.get(path_of(response.json()["data"][0]), headers=admin)
    assert served.headers["content-type"] == "image/png"
    files = [("images", ("photo.png", HTML, "image/png"))]
    response = await client.post("/api/uploads/images", headers=admin, files=files)
    assert_error(response, 400, "FileContentMismatch")


async def test_client_file_name_never_reaches_the_disk(client, admin, upload_root, tmp_path) -> None:
    response = await upload(client, admin, "images", ("../../../escaped.png", PNG))
    assert response.status_code == 200, response.text
    [stored] = stored_files(upload_root)
    assert stored.parent == upload_root / "images" and STORED_NAME.match(stored.name)
    assert not list(tmp_path.rglob("escaped*"))


# -- find_file: serving ------------------------------------------------------------------------------------


async def test_find_file_serves_the_bytes_with_safe_headers(client, admin) -> None:
    url = (await upload(client, admin, "images", ("photo.png", PNG))).json()["data"][0]
    response = await client.get(path_of(url), headers=admin)
    assert response.status_code == 200, response.text
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"].startswith("inline")
    assert response.headers["cache-control"] == "private, max-age=31536000"


@pytest.mark.parametrize(
    ("file_type", "name", "content", "disposition", "media_type"),
    [
        ("documents", "report.pdf", PDF, "inline", "application/pdf"),
        ("documents", "notes.txt", b"plain text", "inline", "text/plain; charset=utf-8"),
        ("documents", "data.json", b'{"a": 1}', "attachment", "application/json"),
        ("documents", "sheet.csv", b"a,b\n1,2\n", "attachment", "text/csv; charset=utf-8"),
        ("files", "archive.zip", b"PK\x03\x04" + b"\x00" * 26, "attachment", "application/zip"),
    ],
)
async def test_only_the_safe_list_is_served_inline(
    client, admin, file_type, name, content, disposition, media_type
) -> None:
    url = (await upload(client, admin, file_type, (name, content))).json()["data"][0]
    response = await client.get(path_of(url), headers=admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].split(";")[0] == disposition
    assert response.headers["content-type"] == media_type
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_svg_allowed_by_the_project_is_still_served_as_an_attachment(app_factory, upload_root) -> None:
    app = await app_factory(
        file_upload={
            "base_upload_dir": str(upload_root),
            "restrictions": {"files": {"allowed_extensions": ["svg", "html"]}},
        }
    )
    async with client_for(app) as client:
        headers = await _admin_headers(app, client)
        for name, content in (("logo.svg", SVG), ("page.html", HTML)):
            url = (await upload(client, headers, "files", (name, content))).json()["data"][0]
            response = await client.get(path_of(url), headers=headers)
            assert response.status_code == 200, response.text
            assert response.headers["content-disposition"].startswith("attachment")
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in response.headers["content-security-policy"]


async def test_find_missing_file_is_404_file_not_found(client, admin) -> None:
    response = await client.get("/api/uploads/images/0123456789abcdef0123456789abcdef.png", headers=admin)
    body = assert_error(
        response, 404, "FileNotFound", "File images/0123456789abcdef0123456789abcdef.png was not found"
    )
    assert body["meta"] == {"filepath": "images/0123456789abcdef0123456789abcdef.png"}


async def test_head_request_gives_headers_only(client, admin) -> None:
    url = (await upload(client, admin)).json()["data"][0]
    response = await client.head(path_of(url), headers=admin)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(PNG)) and response.content == b""


# -- traversal, dotfiles, symlinks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_path",
    [
        "/api/uploads/images/..%2F..%2Fsecret.txt",
        "/api/uploads/images/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/api/uploads/images/..%5C..%5Csecret.txt",
        "/api/uploads/images/%2Fetc%2Fpasswd",
        "/api/uploads/images/..",
        "/api/uploads/images/...",
        "/api/uploads/images/.hidden",
        "/api/uploads/images/secret.txt%00.png",
        "/api/uploads/images/a%20b.png",
        "/api/uploads/..%2F/secret.txt",
    ],
)
@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH"])
async def test_traversal_and_dotfiles_never_leave_the_upload_directory(
    client, admin, upload_root, tmp_path, raw_path, method
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    (upload_root / "images").mkdir(parents=True)
    (upload_root / "images" / ".hidden").write_text("TOP SECRET")
    url = httpx.URL("http://test").copy_with(raw_path=raw_path.encode())
    files = files_of("images", ("a.png", PNG)) if method == "PATCH" else None
    response = await client.request(method, url, headers=admin, files=files)
    assert response.status_code in (400, 404), response.text
    assert "TOP SECRET" not in response.text
    assert secret.read_text() == "TOP SECRET"
    assert (upload_root / "images" / ".hidden").exists()
    assert [p.name for p in stored_files(upload_root)] == [".hidden"]


async def test_symlinks_inside_the_upload_directory_are_not_followed(
    client, admin, upload_root, tmp_path
) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG + b"TOP SECRET")
    (upload_root / "images").mkdir(parents=True)
    os.symlink(secret, upload_root / "images" / "link.png")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.pdf").write_bytes(PDF)
    os.symlink(outside, upload_root / "documents")
    for method in ("GET", "DELETE"):
        for path in ("/api/uploads/images/link.png", "/api/uploads/documents/x.pdf"):
            response = await client.request(method, path, headers=admin)
            assert_error(response, 404, "FileNotFound")
    assert secret.exists() and (outside / "x.pdf").exists()


# -- update_file -------------------------------------------------------------------------------------------


async def test_update_file_stores_the_new_file_then_removes_the_old(client, admin, upload_root) -> None:
    old = (await upload(client, admin, "images", ("old.png", PNG))).json()["data"][0]
    response = await client.patch(path_of(old), headers=admin, files=files_of("images", ("new.jpg", JPEG)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "File updated successfully. 1 new files uploaded"
    [new] = body["data"]
    assert [p.name for p in stored_files(upload_root)] == [new.rsplit("/", 1)[1]]
    assert (await client.get(path_of(old), headers=admin)).status_code == 404
    assert (await client.get(path_of(new), headers=admin)).content == JPEG


async def test_update_without_a_new_file_is_400_missing_new_file_and_keeps_the_old(
    client, admin, upload_root
) -> None:
    old = (await upload(client, admin)).json()["data"][0]
    response = await client.patch(
        path_of(old),
        headers=admin,
        data={"caption": "x"},
        files=[("other", ("", b"", "application/octet-stream"))],
    )
    assert_error(response, 400, "MissingNewFile")
    response = await client.patch(path_of(old), headers=admin, json={})
    assert_error(response, 400, "MissingNewFile")
    assert len(stored_files(upload_root)) == 1


async def test_update_with_a_rejected_file_keeps_the_old(client, admin, upload_root) -> None:
    old = (await upload(client, admin)).json()["data"][0]
    response = await client.patch(path_of(old), headers=admin, files=files_of("images", ("x.png", HTML)))
    assert_error(response, 400, "FileContentMismatch")
    assert [p.name for p in stored_files(upload_root)] == [old.rsplit("/", 1)[1]]


async def test_update_of_a_missing_file_is_404_before_the_body_is_read(client, admin) -> None:
    body = CountingBody(1024 * 1024, prefix=part_head("images", "a.png", PNG))
    response = await client.patch(
        "/api/uploads/images/0123456789abcdef0123456789abcdef.png",
        headers={**admin, **MULTIPART},
        content=body,
    )
    assert_error(response, 404, "FileNotFound")
    assert body.pulled == 0


# -- delete_file -------------------------------------------------------------------------------------------


async def test_delete_file_is_204_then_404(client, admin, upload_root) -> None:
    url = (await upload(client, admin)).json()["data"][0]
    response = await client.delete(path_of(url), headers=admin)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert stored_files(upload_root) == []
    assert_error(await client.delete(path_of(url), headers=admin), 404, "FileNotFound")


# -- configuration ------------------------------------------------------------------------------------------


async def test_enabled_false_mounts_no_upload_route(app_factory, upload_root) -> None:
    app = await app_factory(file_upload={"enabled": False, "base_upload_dir": str(upload_root)})
    async with client_for(app) as client:
        headers = await _admin_headers(app, client)
        response = await upload(client, headers)
        assert_error(response, 404, "RouteNotFound")
        paths = (await client.get("/api/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith("/api/uploads")]
    assert stored_files(upload_root) == []


async def test_base_route_and_type_directory_are_configurable(app_factory, upload_root) -> None:
    app = await app_factory(
        file_upload={
            "base_route": "/media",
            "base_upload_dir": str(upload_root),
            "restrictions": {"images": {"directory": "pictures"}},
        }
    )
    async with client_for(app) as client:
        headers = await _admin_headers(app, client)
        response = await client.post(
            "/media/images", headers=headers, files=files_of("images", ("a.png", PNG))
        )
        assert response.status_code == 200, response.text
        url = response.json()["data"][0]
        assert url.startswith("http://test/media/images/")
        assert (await client.get(path_of(url), headers=headers)).content == PNG
    [stored] = stored_files(upload_root)
    assert stored.parent.name == "pictures"


@pytest.mark.parametrize(
    "bad",
    [
        {"base_route": "api/uploads"},
        {"base_route": "/api/../x"},
        {"restrictions": {"images": {"allowed_extensions": ["png|svg"]}}},
        {"restrictions": {"images": {"allowed_extensions": [".*"]}}},
        {"restrictions": {"images": {"directory": "../outside"}}},
        {"restrictions": {"images": {"max_size_bytes": 0}}},
        {"storage": object()},
    ],
)
async def test_bad_upload_config_fails_at_startup(app_factory, bad) -> None:
    from arkos.config import ConfigError

    with pytest.raises(ConfigError):
        await app_factory(file_upload=bad)


async def test_upload_routes_are_in_openapi(client) -> None:
    schema = (await client.get("/api/openapi.json")).json()
    post = schema["paths"]["/api/uploads/{file_type}"]["post"]
    assert post["tags"] == ["file-upload"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert post["security"]
    item = schema["paths"]["/api/uploads/{file_type}/{file_name}"]
    assert set(item) == {"get", "patch", "delete"}
    assert "204" in item["delete"]["responses"]


async def _admin_headers(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    from tests.http.project_helpers import headers_for

    return await headers_for(client, app, "root", is_super_user=True)
