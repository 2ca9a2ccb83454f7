"""`validation={"body": Model, "query": Model, "params": Model}`: pydantic checks run after authorization.

A key set to None forbids that input. Failures are 400 `ValidationError` with the field errors in `meta`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from arkos.errors import ArkosError, ErrorCode
from arkos.naming import to_camel

VALIDATION_KEYS = frozenset({"body", "query", "params"})


def check_spec(spec: object, where: str) -> Mapping[str, type[BaseModel] | None]:
    if not isinstance(spec, Mapping) or not set(spec) <= VALIDATION_KEYS:
        raise ValueError(f"{where}: validation must be a dict with keys body, query and/or params")
    for key, model in spec.items():
        if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ValueError(f"{where}: validation[{key!r}] must be a pydantic model class or None")
    return spec


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [{"field": ".".join(to_camel(str(p)) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]


def validate_input(spec: Mapping[str, type[BaseModel] | None], key: str, value: Any, *, present: bool) -> Any:
    """Validate one input against its model; returns the model instance (or the value when unchecked)."""
    if key not in spec:
        return value
    model = spec[key]
    if model is None:
        if present:
            raise ArkosError(ErrorCode.VALIDATION, f"This route does not accept {key} input", meta={"input": key})
        return None
    try:
        return model.model_validate(value if value is not None else {})
    except ValidationError as exc:
        raise ArkosError(ErrorCode.VALIDATION, f"Invalid request {key}",
                         meta={"input": key, "errors": field_errors(exc)}) from None
