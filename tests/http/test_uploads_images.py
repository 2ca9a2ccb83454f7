"""Image resizing and conversion on upload (`?width=&height=&format=`), bounded against pixel bombs."""

from __future__ import annotations

import io
import struct
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import client_for
from tests.http.auth_helpers import assert_error
from tests.http.project_helpers import headers_for
from tests.http.test_uploads import MULTIPART, PNG, CountingBody, files_of, part_head, path_of, stored_files


def png(width: int, height: int, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`×`height` pixels, with a tiny body: what a bomb looks like."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
async def setup(app_factory, root):
    app = await app_factory(
        file_upload={"base_upload_dir": str(root), "max_image_pixels": 1_000_000, "max_image_dimension": 2000}
    )
    async with client_for(app) as client:
        headers = await headers_for(client, app, "root", is_super_user=True)
        yield client, headers


def stored_image(root: Path) -> Image.Image:
    [path] = stored_files(root)
    return Image.open(path)


async def test_width_resizes_keeping_the_aspect_ratio(setup, root) -> None:
    client, headers = setup
    response = await client.post(
        "/api/uploads/images",
        params={"width": "100"},
        headers=headers,
        files=files_of("images", ("wide.png", png(400, 200))),
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"][0].endswith(".png")
    assert stored_image(root).size == (100, 50)


async def test_width_and_height_fit_inside_the_box(setup, root) -> None:
    client, headers = setup
    response = await client.post(
        "/api/uploads/images",
        params={"width": "100", "height": "100"},
        headers=headers,
        files=files_of("images", ("wide.png", png(400, 200))),
    )
    assert response.status_code == 200, response.text
    assert stored_image(root).size == (100, 50)


@pytest.mark.parametrize(
    ("fmt", "extension", "pil_format"),
    [("webp", "webp", "WEBP"), ("jpeg", "jpg", "JPEG"), ("png", "png", "PNG")],
)
async def test_format_converts_and_renames(setup, root, fmt, extension, pil_format) -> None:
    client, headers = setup
    response = await client.post(
        "/api/uploads/images",
        params={"format": fmt},
        headers=headers,
        files=files_of("images", ("photo.png", png(50, 40))),
    )
    assert response.status_code == 200, response.text
    url = response.json()["data"][0]
    assert url.endswith(f".{extension}")
    image = stored_image(root)
    assert image.format == pil_format and image.size == (50, 40)
    served = await client.get(path_of(url), headers=headers)
    assert served.headers["content-type"] == f"image/{'jpeg' if fmt == 'jpeg' else fmt}"


@pytest.mark.parametrize(
    "params",
    [
        {"width": "0"},
        {"width": "-5"},
        {"width": "abc"},
        {"height": "2001"},
        {"format": "svg"},
        {"format": "gif"},
    ],
)
async def test_bad_image_options_are_400_before_the_body_is_read(setup, root, params) -> None:
    client, headers = setup
    body = CountingBody(1024 * 1024, prefix=part_head("images", "a.png", PNG))
    response = await client.post(
        "/api/uploads/images", params=params, headers={**headers, **MULTIPART}, content=body
    )
    assert_error(response, 400, "InvalidQueryParameter")
    assert body.pulled == 0


async def test_image_options_on_other_types_are_400(setup) -> None:
    client, headers = setup
    response = await client.post(
        "/api/uploads/documents",
        params={"width": "10"},
        headers=headers,
        files=files_of("documents", ("a.pdf", b"%PDF-1.4")),
    )
    assert_error(response, 400, "InvalidQueryParameter")


async def test_image_over_the_pixel_limit_is_refused_before_decoding(setup, root) -> None:
    client, headers = setup
    response = await client.post(
        "/api/uploads/images",
        params={"width": "10"},
        headers=headers,
        files=files_of("images", ("big.png", png_header_only(2000, 1000))),
    )
    body = assert_error(response, 413, "ImageTooLarge")
    assert body["meta"] == {"pixels": 2_000_000, "maxPixels": 1_000_000}
    assert stored_files(root) == []


async def test_decompression_bomb_is_refused(setup, root) -> None:
    client, headers = setup
    bomb = png_header_only(100_000, 100_000)  # 10 gigapixels in a few hundred bytes
    response = await client.post(
        "/api/uploads/images",
        params={"format": "webp"},
        headers=headers,
        files=files_of("images", ("bomb.png", bomb)),
    )
    assert_error(response, 413, "ImageTooLarge")
    assert stored_files(root) == []


async def test_undecodable_image_is_400_invalid_image(setup, root) -> None:
    client, headers = setup
    response = await client.post(
        "/api/uploads/images",
        params={"width": "10"},
        headers=headers,
        files=files_of("images", ("broken.png", PNG)),
    )
    assert_error(response, 400, "InvalidImage")
    assert stored_files(root) == []


async def test_without_pillow_processing_is_400_with_a_clear_message(setup, root, monkeypatch) -> None:
    client, headers = setup
    image = png(20, 20)
    monkeypatch.setitem(sys.modules, "PIL", None)  # `from PIL import Image` now raises ImportError
    response = await client.post(
        "/api/uploads/images",
        params={"width": "10"},
        headers=headers,
        files=files_of("images", ("a.png", image)),
    )
    body = assert_error(response, 400, "ImageProcessingUnavailable")
    assert "pip install pillow" in body["message"]
    plain = await client.post(
        "/api/uploads/images", headers=headers, files=files_of("images", ("a.png", PNG))
    )
    assert plain.status_code == 200, plain.text  # uploads without processing never need Pillow
