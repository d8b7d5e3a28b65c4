"""Typed errors. Each subclasses the seed's builtin (ValueError, ConnectionError, RuntimeError,
FileNotFoundError) so callers written against the seed keep working, and carries Lambda's
code, message and suggestion where the error came from the API."""

from __future__ import annotations


class LambdaGUIError(Exception):
    """Base of every error this package raises; `str()` is a readable, actionable message."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        suggestion: str | None = None,
        status: int | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.suggestion = suggestion
        self.status = status
        text = message
        if suggestion and suggestion not in message:
            text = f"{message} {suggestion}"
        super().__init__(text)


# --- Lambda API errors (decoded from the error envelope) -------------------------------


class LambdaAPIError(LambdaGUIError):
    """An error reply from the Lambda Cloud API."""


class InvalidAPIKeyError(LambdaAPIError, ValueError):
    """401 global/invalid-api-key."""


class AccountInactiveError(LambdaAPIError, ValueError):
    """403 global/account-inactive (or another 403 the account must fix)."""


class InvalidParametersError(LambdaAPIError, ValueError):
    """400 global/invalid-parameters and other request errors the caller must fix."""


class ObjectNotFoundError(LambdaAPIError, RuntimeError):
    """global/object-does-not-exist in Lambda's error envelope: the object is gone for sure.
    A bare 404 (no envelope) is an UnexpectedResponseError instead, since it confirms nothing."""


class InsufficientCapacityError(LambdaAPIError, RuntimeError):
    """instance-operations/launch/insufficient-capacity."""


class QuotaExceededError(LambdaAPIError, RuntimeError):
    """global/quota-exceeded."""


class APIUnavailableError(LambdaAPIError, ConnectionError):
    """The API could not be reached or answered with a server error / a body that is not JSON."""


class RateLimitedError(APIUnavailableError):
    """HTTP 429 that persisted after the client's retries."""


class ProviderUnavailableError(APIUnavailableError):
    """A `provider/*` error code: a service upstream of Lambda failed; transient, whatever the
    HTTP status it came with, so reads are retried."""


class UnexpectedResponseError(LambdaAPIError, RuntimeError):
    """The server answered, but not as the Lambda Cloud API does: JSON of the wrong shape, or
    a 404 without Lambda's error envelope (a wrong base URL, a proxy). Retrying will not help:
    check the API address in Settings and the app version. Not an APIUnavailableError, so no
    caller mistakes it for "Lambda unreachable" and re-polls forever."""

    def __init__(
        self,
        message: str,
        *,
        detail: str | None = None,
        code: str | None = None,
        suggestion: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, suggestion=suggestion, status=status)
        # What exactly was wrong, without the advice around it: list decoding reports it per
        # skipped item, and the client rewords it with the server's address.
        self.detail = detail or message


class ResponseTooLargeError(UnexpectedResponseError):
    """A reply body grew past the client's size cap; it was cut off unread and the connection
    closed. Lambda's replies are far smaller, so the address is wrong or the server is broken."""


class LaunchOutcomeUnknownError(LambdaAPIError, RuntimeError):
    """A launch was sent, its reply was lost, and no instance with its name could be found."""


# --- SSH / remote ------------------------------------------------------------------------


class SSHError(LambdaGUIError, RuntimeError):
    """An SSH operation failed (connect, auth, exec, transfer)."""


class HostKeyMismatchError(SSHError):
    """The instance's host key differs from the one pinned at first connection."""


class ChecksumMismatchError(LambdaGUIError, RuntimeError):
    """A downloaded file does not match the remote sha256."""


class UnsafeArchiveError(LambdaGUIError, ValueError):
    """An archive holds an absolute path, '..', a link, a device or exceeds the caps."""


# --- Jobs ----------------------------------------------------------------------------------


class ConfigError(LambdaGUIError, ValueError):
    """A TrainingConfig field is invalid; `field` names it and the message says the fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class JobNotFoundError(LambdaGUIError, KeyError):
    """No job with this id is known to the store."""

    def __str__(self) -> str:
        return self.message


class JobNotFinishedError(LambdaGUIError, RuntimeError):
    """The artifact of a job that has not completed was asked for."""


class ArtifactMissingError(LambdaGUIError, FileNotFoundError):
    """The job finished but its adapter archive is not there."""


class DownloadError(LambdaGUIError, RuntimeError):
    """An artifact download failed after its retries."""


class UnknownInstanceTypeError(LambdaGUIError, ValueError):
    """An instance type name Lambda does not offer."""


class NotConnectedError(LambdaGUIError, RuntimeError):
    """A connector method that needs Lambda was called before connect()."""


class SSHKeyError(LambdaGUIError, ValueError):
    """The SSH private key could not be read, or matches no usable key."""


class KeyIndexCorruptError(SSHKeyError):
    """The app's record of the SSH keys it generated could not be read; it was moved aside."""


class CredentialStoreError(LambdaGUIError, RuntimeError):
    """The keyring did not keep a value (it failed, or accepted it and stored nothing); the
    value is kept in memory for this session only."""
