"""`validation={"body": Model, "query": Model, "params": Model}`: pydantic checks run after authorization.

A key set to None forbids that input (400 `RequestBodyNotAllowed`, `RequestQueryNotAllowed` or
`RequestParamsNotAllowed`, the reference's codes). Invalid input is 400 `ValidationError` with the field
errors in `meta`. Bodies are read with the `max_body_bytes` limit (413 `PayloadTooLarge`), which
`BodyLimitMiddleware` also enforces for every other route.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arkos.errors import ArkosError, ErrorCode, error_response
from arkos.naming import to_camel

VALIDATION_KEYS = ("body", "query", "params")
NOT_ALLOWED_CODES = {key: f"Request{key.capitalize()}NotAllowed" for key in VALIDATION_KEYS}


def check_spec(spec: object, where: str) -> Mapping[str, type[BaseModel] | None]:
    """A route's `validation` value, checked at startup: a dict of body/query/params → model class or None."""
    if not isinstance(spec, Mapping) or not set(spec) <= set(VALIDATION_KEYS):
        raise ValueError(f"{where}: validation must be a dict with keys body, query and/or params")
    for key, model in spec.items():
        if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ValueError(f"{where}: validation[{key!r}] must be a pydantic model class or None")
    return spec


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [{"field": ".".join(to_camel(str(p)) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)]


def validate_input(spec: Mapping[str, type[BaseModel] | None], key: str, value: Any, *, present: bool) -> Any:
    """Validate one input against its model; returns the model instance (or the value when unchecked)."""
    if key not in spec:
        return value
    model = spec[key]
    if model is None:
        if present:
            raise ArkosError(NOT_ALLOWED_CODES[key], f"Request {key} is not allowed on this route",
                             status=400, meta={"input": key})
        return None
    try:
        return model.model_validate(value if value is not None else {})
    except ValidationError as exc:
        errors = field_errors(exc)
        first = errors[0] if errors else None
        detail = f": {first['field'] + ': ' if first and first['field'] else ''}{first['message']}" if first else ""
        raise ArkosError(ErrorCode.VALIDATION, f"Invalid request {key}{detail}",
                         meta={"input": key, "errors": errors}) from None


def too_large(max_bytes: int) -> ArkosError:
    return ArkosError(ErrorCode.PAYLOAD_TOO_LARGE, f"Request body is larger than {max_bytes} bytes",
                      meta={"maxBytes": max_bytes})


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to be over `max_bytes` (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            raise too_large(max_bytes)
    return bytes(raw)


async def validate_request(request: Request, spec: Mapping[str, type[BaseModel] | None],
                           max_bytes: int) -> dict[str, Any]:
    """Run a route's `validation` models over its body (JSON), query string and path parameters."""
    validated: dict[str, Any] = {}
    if "body" in spec:
        raw = await read_body(request, max_bytes)
        body = None
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise ArkosError(ErrorCode.INVALID_BODY, "The request body is not valid JSON") from None
        validated["body"] = validate_input(spec, "body", body, present=bool(raw.strip()))
    if "query" in spec:
        query = dict(request.query_params)
        validated["query"] = validate_input(spec, "query", query, present=bool(query))
    if "params" in spec:
        params = dict(request.path_params)
        validated["params"] = validate_input(spec, "params", params, present=bool(params))
    return validated


class BodyLimitMiddleware:
    """`max_body_bytes` for every route: 413 `PayloadTooLarge` for a larger declared or streamed body.

    Multipart bodies (uploads) are left to the upload limits, which are per file type and enforced
    while streaming (docs/uploads.md).
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, debug: bool = False) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.debug = debug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        if headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data"):
            await self.app(scope, receive, send)
            return
        declared = headers.get(b"content-length", b"")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(too_large(self.max_bytes), debug=self.debug)(scope, receive, send)
            return
        received = 0
        max_bytes = self.max_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise too_large(max_bytes)  # the pipeline and FastAPI's handler render it as 413
            return message

        await self.app(scope, limited_receive, send)
