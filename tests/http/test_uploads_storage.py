"""LocalStorage and the content sniffer on their own: confinement, atomic saves, signatures, and the
streaming multipart reader against a plain ASGI request."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from starlette.requests import Request

from arkos.errors import ArkosError
from arkos.uploads import LocalStorage, Storage
from arkos.uploads.kinds import extension_of
from arkos.uploads.multipart import MultipartReader
from arkos.uploads.sniff import matches
from tests.http.test_uploads import PNG, stored_files


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def failing(after: int) -> AsyncIterator[bytes]:
    yield b"x" * after
    raise ArkosError("Boom", "stream failed")


def test_local_storage_is_a_storage(tmp_path: Path) -> None:
    assert isinstance(LocalStorage(tmp_path), Storage)


@pytest.mark.parametrize(
    "key",
    [
        "images/../secret",
        "../secret.png",
        "/etc/passwd",
        "images/.hidden",
        "images/a/b.png",
        "images/..",
        "images/",
        "images\\..\\x",
        "images/a\x00.png",
        "./images/a.png",
        "images/a..png/..",
        "",
    ],
)
async def test_invalid_keys_are_missing_and_cannot_be_written(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "root")
    assert await storage.open(key) is None
    assert await storage.exists(key) is False
    assert await storage.delete(key) is False
    with pytest.raises(ValueError):
        await storage.save(key, chunks(b"data"))
    assert not (tmp_path / "secret").exists()


async def test_save_is_atomic_and_cleans_up_on_failure(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    size = await storage.save("files/a.bin", chunks(b"a" * 10, b"b" * (2 * 1024 * 1024)))
    assert size == 10 + 2 * 1024 * 1024
    stored = await storage.open("files/a.bin")
    assert stored is not None and stored.size == size and stored.path == tmp_path / "files" / "a.bin"
    with pytest.raises(ArkosError):
        await storage.save("files/b.bin", failing(3 * 1024 * 1024))
    assert [p.name for p in stored_files(tmp_path)] == ["a.bin"]
    assert await storage.delete("files/a.bin") is True
    assert stored_files(tmp_path) == []


async def test_a_cancelled_save_leaves_nothing(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    started = anyio.Event()

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 65536
            started.set()
            await anyio.sleep(0)

    async with anyio.create_task_group() as group:
        group.start_soon(storage.save, "files/c.bin", endless())
        await started.wait()
        await anyio.sleep(0.05)
        assert [p.name.startswith(".upload-") for p in stored_files(tmp_path)] == [
            True
        ]  # written as it streams
        group.cancel_scope.cancel()
    assert stored_files(tmp_path) == []


async def test_symlinked_files_and_directories_are_missing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "images").mkdir(parents=True)
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG)
    os.symlink(secret, root / "images" / "a.png")
    os.symlink(tmp_path, root / "files")
    storage = LocalStorage(root)
    assert await storage.open("images/a.png") is None
    assert await storage.delete("images/a.png") is False
    assert await storage.open("files/secret.png") is None
    with pytest.raises(ValueError):
        await storage.save("files/new.png", chunks(PNG))
    assert secret.exists() and not (tmp_path / "new.png").exists()


@pytest.mark.parametrize(
    ("extension", "head", "expected"),
    [
        ("png", PNG, True),
        ("png", b"GIF89a", False),
        ("jpg", b"\xff\xd8\xff\xdb", True),
        ("gif", b"GIF87a", True),
        ("webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ", True),
        ("webp", b"RIFF....AVI ", False),
        ("avif", b"\x00\x00\x00\x1cftypavif", True),
        ("heic", b"\x00\x00\x00\x18ftypheic", True),
        ("mov", b"\x00\x00\x00\x08wide", True),
        ("mkv", b"\x1a\x45\xdf\xa3", True),
        ("pdf", b"%PDF-1.4", True),
        ("docx", b"PK\x03\x04", True),
        ("doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", True),
        ("docx", b"%PDF", False),
        ("txt", "héllo wörld\n".encode(), True),
        ("txt", "é".encode()[:1], True),
        ("txt", b"\xff\xfe", False),
        ("csv", b"a,b\x00", False),
        ("tar", b"\x00" * 257 + b"ustar", True),
        ("glb", b"anything", True),
    ],
)
def test_signatures(extension: str, head: bytes, expected: bool) -> None:
    assert matches(extension, head) is expected


@pytest.mark.parametrize(
    ("name", "extension"),
    [
        ("a.PNG", "png"),
        ("dir/x.tar.gz", "gz"),
        ("C:\\x\\y.pdf", "pdf"),
        (".png", ""),
        ("noext", ""),
        ("a.", ""),
        ("..png", ""),
    ],
)
def test_extension_of(name: str, extension: str) -> None:
    assert extension_of(name) == extension


async def test_multipart_reader_streams_parts_in_small_chunks() -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="title"\r\n\r\nhello\r\n'
        b'--b\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n'
        b"Content-Type: image/png\r\n\r\n" + b"z" * 300_000 + b"\r\n--b--\r\n"
    )
    pieces = [body[i : i + 7001] for i in range(0, len(body), 7001)]

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": pieces.pop(0), "more_body": bool(pieces)}

    request = Request({"type": "http", "method": "POST", "headers": [], "path": "/"}, receive)
    reader = MultipartReader(request, b"b")
    seen = []
    async for part in reader.parts():
        data = b"".join([chunk async for chunk in reader.chunks()])
        seen.append((part.name, part.filename, part.content_type, len(data)))
    assert seen == [("title", None, "application/octet-stream", 5), ("f", "a.bin", "image/png", 300_000)]
