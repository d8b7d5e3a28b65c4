"""The error envelope Lambda's API returns, raised from handlers as one exception type."""

from __future__ import annotations

import json

from aiohttp import web


class ApiError(Exception):
    """An error reply: HTTP status plus the spec's {"error": {code, message, suggestion?}}."""

    def __init__(self, status: int, code: str, message: str, suggestion: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.suggestion = suggestion

    def body(self) -> dict[str, dict[str, str]]:
        """The JSON envelope."""
        error = {"code": self.code, "message": self.message}
        if self.suggestion is not None:
            error["suggestion"] = self.suggestion
        return {"error": error}

    def response(self) -> web.Response:
        """The aiohttp reply carrying this error."""
        return web.Response(
            status=self.status,
            body=json.dumps(self.body()).encode(),
            content_type="application/json",
        )


def invalid_api_key() -> ApiError:
    """401: missing, malformed or unknown API key."""
    return ApiError(
        401,
        "global/invalid-api-key",
        "API key was invalid, expired, or deleted.",
        "Check your API key or create a new one, then try again.",
    )


def account_inactive() -> ApiError:
    """403: the account cannot use the API."""
    return ApiError(
        403,
        "global/account-inactive",
        "Your account is inactive.",
        "Make sure you have verified your email address and have a valid payment method. "
        "Contact Support if problems continue.",
    )


def invalid_parameters(message: str, suggestion: str | None = None) -> ApiError:
    """400 global/invalid-parameters."""
    return ApiError(400, "global/invalid-parameters", message, suggestion)


def instance_not_found() -> ApiError:
    """404 for an unknown (or long-gone) instance id."""
    return ApiError(404, "global/object-does-not-exist", "Specified instance does not exist.")


def launch_resource_not_found(message: str) -> ApiError:
    """404 for a launch that names a file system or image the account does not have."""
    return ApiError(
        404,
        "global/object-does-not-exist",
        message,
        "Check the name or id and try again.",
    )


def insufficient_capacity() -> ApiError:
    """400: no free machine of that type in that region right now."""
    return ApiError(
        400,
        "instance-operations/launch/insufficient-capacity",
        "Not enough capacity to fulfill launch request.",
        "Choose an instance type that has capacity in that region, or try again later.",
    )


def quota_exceeded() -> ApiError:
    """400: the account holds as many instances as it may."""
    return ApiError(
        400, "global/quota-exceeded", "Quota exceeded.", "Contact Support to increase your quota."
    )


def internal_error() -> ApiError:
    """500 (injected): the spec's ApiErrorInternal shape."""
    return ApiError(
        500,
        "global/internal-error",
        "An internal server error occurred.",
        "Try again later. Contact Support if the problem persists.",
    )
