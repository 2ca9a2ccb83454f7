"""The one error type, its code table and the renderer that puts every error on the wire."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from enum import StrEnum

import orjson
from starlette.requests import Request
from starlette.responses import Response

logger = logging.getLogger("arkos")


class ErrorCode(StrEnum):
    # Reference code strings are kept as they are (DECISIONS 14 fixes only the typos).
    UNKNOWN = "Unknown"
    INTERNAL = "InternalServerError"
    ROUTE_NOT_FOUND = "RouteNotFound"
    NOT_FOUND = "NotFound"
    RECORD_NOT_FOUND = "RecordNotFound"
    DUPLICATE_RECORDS = "DuplicateRecords"
    FOREIGN_KEY_VIOLATION = "ForeignKeyViolation"
    INVALID_QUERY = "InvalidQueryParameter"
    INVALID_BODY = "InvalidRequestBody"
    INVALID_PARAMETER = "InvalidParameter"
    VALIDATION = "ValidationError"
    MISSING_ARRAY_BODY = "MissingArrayRequestBody"
    MISSING_FILTER = "MissingRequestQueryParameters"
    FORBIDDEN_FIELD = "ForbiddenField"
    UNKNOWN_FIELD = "UnknownField"
    METHOD_NOT_ALLOWED = "MethodNotAllowed"
    PAYLOAD_TOO_LARGE = "PayloadTooLarge"
    SERVICE_UNAVAILABLE = "ServiceUnavailable"
    # authentication
    LOGIN_REQUIRED = "LoginRequired"
    INVALID_AUTH_TOKEN = "InvalidAuthToken"
    USER_NO_LONGER_EXISTS = "UserNoLongerExists"
    PASSWORD_CHANGED = "PasswordChanged"
    ACCOUNT_INACTIVE = "AccountInactive"
    MISSING_JWT_SECRET = "MissingJwtSecret"
    INCORRECT_CREDENTIALS = "IncorrectCredentials"
    MISSING_CREDENTIAL_FIELDS = "MissingCredentialFields"
    INVALID_USERNAME_FIELD = "InvalidUsernameField"
    PASSWORD_TOO_LONG = "PasswordTooLong"
    MISSING_PASSWORD_FIELDS = "MissingPasswordFields"
    INCORRECT_CURRENT_PASSWORD = "IncorrectCurrentPassword"
    PASSWORD_REQUIREMENTS = "PasswordDoesNotMeetRequirements"
    INVALID_FIELD_PASSWORD = "InvalidFieldPassword"
    USER_NOT_FOUND = "UserNotFound"
    # authorization
    NOT_ENOUGH_PERMISSIONS = "NotEnoughPermissions"
    # file uploads (reference §7; FileContentMismatch, UploadAborted and the image codes are arkos's own)
    INVALID_FILE_TYPE = "InvalidFileType"
    NO_FILE_ATTACHED = "NoFileOrFilesAttached"
    MISSING_NEW_FILE = "MissingNewFile"
    FILE_TOO_LARGE = "FileTooLarge"
    TOO_MANY_FILES = "TooManyFiles"
    UNEXPECTED_FILE_FIELD = "UnexpectedFileField"
    FILE_TYPE_NOT_ALLOWED = "FileTypeNotAllowed"
    FILE_CONTENT_MISMATCH = "FileContentMismatch"
    FILE_NOT_FOUND = "FileNotFound"
    UPLOAD_ABORTED = "UploadAborted"
    IMAGE_PROCESSING_UNAVAILABLE = "ImageProcessingUnavailable"
    INVALID_IMAGE = "InvalidImage"
    IMAGE_TOO_LARGE = "ImageTooLarge"
    TOO_MANY_REQUESTS = "TooManyRequests"
    CSRF_FAILED = "CsrfFailed"


_DEFAULTS: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.UNKNOWN: (400, "Bad request"),
    ErrorCode.INTERNAL: (500, "Internal server error, please try again later."),
    ErrorCode.ROUTE_NOT_FOUND: (404, "Route not found"),
    ErrorCode.NOT_FOUND: (404, "Not found"),
    ErrorCode.RECORD_NOT_FOUND: (404, "Record not found"),
    ErrorCode.DUPLICATE_RECORDS: (409, "Duplicate unique field(s)"),
    ErrorCode.FOREIGN_KEY_VIOLATION: (409, "A related record does not exist or is still referenced"),
    ErrorCode.INVALID_QUERY: (400, "Invalid query parameter"),
    ErrorCode.INVALID_BODY: (400, "Invalid request body"),
    ErrorCode.INVALID_PARAMETER: (400, "Invalid route parameter"),
    ErrorCode.VALIDATION: (400, "Invalid request data"),
    ErrorCode.MISSING_ARRAY_BODY: (
        400,
        "Expected request body array to contain at least one item but received none",
    ),
    ErrorCode.MISSING_FILTER: (400, "Filter criteria not provided"),
    ErrorCode.FORBIDDEN_FIELD: (400, "Field is not allowed"),
    ErrorCode.UNKNOWN_FIELD: (400, "Unknown field"),
    ErrorCode.METHOD_NOT_ALLOWED: (405, "Method not allowed"),
    ErrorCode.PAYLOAD_TOO_LARGE: (413, "Request body too large"),
    ErrorCode.SERVICE_UNAVAILABLE: (503, "Service temporarily unavailable, please try again later."),
    ErrorCode.LOGIN_REQUIRED: (401, "You are not logged in! please log in to get access"),
    ErrorCode.INVALID_AUTH_TOKEN: (401, "Your auth token is invalid, please login again."),
    ErrorCode.USER_NO_LONGER_EXISTS: (401, "The user belonging to this token no longer exists"),
    ErrorCode.PASSWORD_CHANGED: (401, "User recently changed password! Please log in again."),
    ErrorCode.ACCOUNT_INACTIVE: (401, "This account is inactive"),
    ErrorCode.MISSING_JWT_SECRET: (
        500,
        "No JWT secret is configured: set JWT_SECRET in the environment or .env, "
        "or authentication.jwt.secret in the arkos config",
    ),
    ErrorCode.INCORRECT_CREDENTIALS: (401, "Incorrect username or password"),
    ErrorCode.MISSING_CREDENTIAL_FIELDS: (400, "Please provide both username and password"),
    ErrorCode.INVALID_USERNAME_FIELD: (400, "Invalid usernameField parameter, it is not allowed!"),
    ErrorCode.PASSWORD_TOO_LONG: (400, "Password must be at most 72 bytes long"),
    ErrorCode.MISSING_PASSWORD_FIELDS: (400, "currentPassword and newPassword are required"),
    ErrorCode.INCORRECT_CURRENT_PASSWORD: (400, "Current password is incorrect"),
    ErrorCode.PASSWORD_REQUIREMENTS: (
        400,
        "The new password must contain at least one uppercase letter, one lowercase letter, and one number",
    ),
    ErrorCode.INVALID_FIELD_PASSWORD: (400, "In order to update password use the update-password endpoint."),
    ErrorCode.USER_NOT_FOUND: (404, "User not found!"),
    ErrorCode.NOT_ENOUGH_PERMISSIONS: (403, "You do not have permission to perform this action"),
    ErrorCode.INVALID_FILE_TYPE: (400, "Invalid file type: use images, videos, documents or files"),
    ErrorCode.NO_FILE_ATTACHED: (400, "No file or files were attached on the request body as form data."),
    ErrorCode.MISSING_NEW_FILE: (400, "No new file was attached to replace the old one"),
    ErrorCode.FILE_TOO_LARGE: (413, "File too large"),
    ErrorCode.TOO_MANY_FILES: (400, "Too many files"),
    ErrorCode.UNEXPECTED_FILE_FIELD: (400, "Unexpected file field"),
    ErrorCode.FILE_TYPE_NOT_ALLOWED: (400, "File type not allowed"),
    ErrorCode.FILE_CONTENT_MISMATCH: (400, "The file's content does not match its extension"),
    ErrorCode.FILE_NOT_FOUND: (404, "File not found"),
    ErrorCode.UPLOAD_ABORTED: (400, "The upload was interrupted before the body was complete"),
    ErrorCode.IMAGE_PROCESSING_UNAVAILABLE: (400, "Image resizing and conversion need Pillow: pip install pillow"),
    ErrorCode.INVALID_IMAGE: (400, "The image could not be decoded"),
    ErrorCode.IMAGE_TOO_LARGE: (413, "The image has too many pixels to process"),
    ErrorCode.TOO_MANY_REQUESTS: (429, "Too many requests"),
    ErrorCode.CSRF_FAILED: (
        403,
        "Cross-site request refused: send the token in the Authorization header, or call from a trusted origin",
    ),
}


class ArkosError(Exception):
    """The single error type arkos raises; rendered as `{status, code, message, meta}`."""

    __slots__ = ("code", "message", "status", "meta", "headers")

    def __init__(
        self,
        code: ErrorCode | str,
        message: str | None = None,
        *,
        status: int | None = None,
        meta: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        default_status, default_message = _DEFAULTS.get(code, (400, "Bad request"))  # type: ignore[call-overload]
        self.code = str(code)
        self.message = message or default_message
        self.status = status or default_status
        self.meta = dict(meta) if meta else {}
        self.headers = dict(headers) if headers else None
        super().__init__(self.message)

    def body(self, *, debug: bool = False) -> dict[str, object]:
        body: dict[str, object] = {
            "status": "fail" if self.status < 500 else "error",
            "code": self.code,
            "message": self.message,
            "meta": self.meta,
        }
        if debug and self.status >= 500 and self.__traceback__ is not None:
            body["stack"] = traceback.format_tb(self.__traceback__)
        return body


def json_response(content: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC, default=_json_default),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def _json_default(value: object) -> object:
    # Decimal and other exotic column types: a string never loses precision.
    return str(value)


def error_response(error: ArkosError, *, debug: bool = False) -> Response:
    return json_response(error.body(debug=debug), error.status, error.headers)


def internal_error(exc: BaseException, *, debug: bool = False) -> ArkosError:
    """Log an unexpected exception and turn it into the generic 500; its text never reaches production clients."""
    logger.error("Unhandled error", exc_info=(type(exc), exc, exc.__traceback__))
    error = ArkosError(ErrorCode.INTERNAL)
    if debug:
        error.meta = {"error": f"{type(exc).__name__}: {exc}", "stack": traceback.format_exception(exc)}
    return error


async def handle_arkos_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ArkosError)
    return error_response(exc, debug=request.app.state.arkos.config.is_development)
