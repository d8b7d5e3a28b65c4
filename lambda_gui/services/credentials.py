"""The API key, SSH key path and tracker secrets, kept in the OS keyring (every keyring call
runs in an executor).

When the keyring cannot store anything (keyring.backends.fail, the null backend), values are
kept for this session only and the caller is told so; plaintext backends store but are
reported as not secure.

Every save is read back: a backend that accepts a value and keeps nothing, or that fails with
any exception at all (not only keyring's own errors), leaves the value kept for this session
and a CredentialStoreError in `problem`, which info() then reports as its warning (the welcome
and settings dialogs show it). No keyring failure ever escapes this module.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from lambda_gui.cloud.errors_map import sanitize
from lambda_gui.core.errors import CredentialStoreError

if TYPE_CHECKING:
    import keyring.backend

log = logging.getLogger(__name__)

SERVICE = "lambda-gui"
API_KEY_ENTRY = "api-key"
SSH_KEY_ENTRY = "ssh-key-path"
# A tracker secret (HF_TOKEN, WANDB_API_KEY, ...) is kept under this prefix and its name.
SECRET_ENTRY_PREFIX = "env:"

T = TypeVar("T")

# Backends that cannot keep a secret at all, and ones that keep it in a file anyone with the
# user's file access can read.
_CANNOT_STORE = ("keyring.backends.fail", "keyring.backends.null")
_PLAINTEXT_MARKERS = ("plaintext", "keyrings.alt.file", "uncrypted", "unencrypted")
_WHAT = {API_KEY_ENTRY: "API key", SSH_KEY_ENTRY: "SSH key path"}
_SESSION_ONLY = (
    "Install and unlock a system keyring (GNOME Keyring, KWallet, macOS Keychain, Windows "
    "Credential Locker), then enter the key again in Settings to save it."
)


@dataclass(frozen=True)
class KeyringInfo:
    """Which keyring backend is in use and whether it keeps secrets safely."""

    name: str
    can_store: bool
    secure: bool
    warning: str = ""


def describe_backend(backend: Any) -> KeyringInfo:
    """Classify a keyring backend object (pure: reads only its class and chained backends)."""
    parts = _backend_parts(backend)
    names = [f"{type(b).__module__}.{type(b).__name__}" for b in parts]
    label = ", ".join(_label(b) for b in parts) or _label(backend)
    stores = [n for n in names if not n.startswith(_CANNOT_STORE)]
    if not stores:
        return KeyringInfo(
            label,
            can_store=False,
            secure=False,
            warning=(
                "No system keyring is available, so the API key cannot be saved: it is kept "
                "for this session only. Install and unlock a keyring (GNOME Keyring, KWallet, "
                "macOS Keychain, Windows Credential Locker) to save it."
            ),
        )
    if any(m in n.lower() for n in stores for m in _PLAINTEXT_MARKERS):
        return KeyringInfo(
            label,
            can_store=True,
            secure=False,
            warning=(
                "This keyring stores secrets in a plain file: anyone who can read your files "
                "can read the API key. Prefer a system keyring."
            ),
        )
    return KeyringInfo(label, can_store=True, secure=True)


def _backend_parts(backend: Any) -> list[Any]:
    chained = getattr(backend, "backends", None)
    if isinstance(chained, (list, tuple)):
        return list(chained)
    return [backend]


def _label(backend: Any) -> str:
    name = getattr(backend, "name", "")
    return str(name) if name else type(backend).__name__


class CredentialStore:
    """The API key and SSH key path: in the keyring when it can store, else in memory."""

    def __init__(
        self, service: str = SERVICE, backend: keyring.backend.KeyringBackend | None = None
    ) -> None:
        self.service = service
        self._backend = backend
        self._session: dict[str, str] = {}
        self._problem: CredentialStoreError | None = None

    @property
    def problem(self) -> CredentialStoreError | None:
        """Why the keyring last failed to keep or give a value (None once a save sticks)."""
        return self._problem

    async def info(self) -> KeyringInfo:
        """The backend in use, and whether values will be saved safely."""
        try:
            backend = await self._run(self._keyring)
        except Exception as exc:  # keyring's backend discovery can fail in any way
            return KeyringInfo(
                "unavailable",
                can_store=False,
                secure=False,
                warning=f"The keyring could not be opened ({_reason(exc)}): the API key is "
                f"kept for this session only. {_SESSION_ONLY}",
            )
        described = describe_backend(backend)
        if self._problem is not None and described.can_store:
            # The backend says it stores, but a save did not stick: believe the save.
            return KeyringInfo(
                described.name, can_store=False, secure=False, warning=str(self._problem)
            )
        return described

    async def api_key(self) -> str | None:
        """The stored API key, if any."""
        return await self._get(API_KEY_ENTRY)

    async def save_api_key(self, api_key: str) -> bool:
        """Store the API key; False when it is kept for this session only."""
        return await self._set(API_KEY_ENTRY, api_key.strip())

    async def ssh_key_path(self) -> str | None:
        """The SSH private key file the user chose (None: a key generated through Lambda)."""
        return await self._get(SSH_KEY_ENTRY)

    async def save_ssh_key_path(self, path: str | None) -> bool:
        """Remember the SSH key file (None forgets it); False when kept for this session only."""
        if not path:
            await self._delete(SSH_KEY_ENTRY)
            return True
        return await self._set(SSH_KEY_ENTRY, path)

    async def secret(self, name: str) -> str | None:
        """A tracker secret saved under its variable name (HF_TOKEN, WANDB_API_KEY), if any."""
        return await self._get(SECRET_ENTRY_PREFIX + name)

    async def save_secret(self, name: str, value: str) -> bool:
        """Keep a tracker secret; False when it is kept for this session only."""
        return await self._set(SECRET_ENTRY_PREFIX + name, value)

    async def forget_secret(self, name: str) -> None:
        """Remove a saved tracker secret."""
        await self._delete(SECRET_ENTRY_PREFIX + name)

    async def forget(self) -> None:
        """Remove the API key and SSH key path."""
        for entry in (API_KEY_ENTRY, SSH_KEY_ENTRY):
            await self._delete(entry)

    # -- executor side ------------------------------------------------------------------

    def _keyring(self) -> keyring.backend.KeyringBackend:
        if self._backend is not None:
            return self._backend
        import keyring  # ~50 ms with its backend discovery: loaded on first use, off the GUI thread

        return keyring.get_keyring()

    async def _get(self, entry: str) -> str | None:
        if entry in self._session:
            return self._session[entry]

        def read() -> str | None:
            try:
                value = self._keyring().get_password(self.service, entry)
            except Exception as exc:  # a third-party backend may raise anything
                self._problem = CredentialStoreError(
                    f"The keyring could not be read ({_reason(exc)}), so the saved "
                    f"{_what(entry)} is not available.",
                    suggestion="Unlock the keyring, or enter the key again in Settings.",
                )
                log.warning("%s", self._problem)
                return None
            return value if isinstance(value, str) else None

        return await self._run(read)

    async def _set(self, entry: str, value: str) -> bool:
        def write() -> CredentialStoreError | None:
            what = _what(entry)
            try:
                backend = self._keyring()
                backend.set_password(self.service, entry, value)
                # Read back: some backends accept a value and keep nothing.
                kept = backend.get_password(self.service, entry) == value
            except Exception as exc:  # a third-party backend may raise anything
                return CredentialStoreError(
                    f"The keyring could not save the {what} ({_reason(exc, value)}): it is kept "
                    "for this session only.",
                    suggestion=_SESSION_ONLY,
                )
            if kept:
                return None
            return CredentialStoreError(
                f"The keyring ({describe_backend(backend).name}) accepted the {what} but did "
                "not keep it: it is kept for this session only.",
                suggestion=_SESSION_ONLY,
            )

        problem = await self._run(write)
        self._problem = problem
        if problem is None:
            self._session.pop(entry, None)
            return True
        log.warning("%s", problem)
        self._session[entry] = value
        return False

    async def _delete(self, entry: str) -> None:
        self._session.pop(entry, None)

        def delete() -> None:
            try:
                self._keyring().delete_password(self.service, entry)
            except Exception as exc:  # nothing there, or a backend that fails: nothing to undo
                log.debug("keyring: deleting %s: %s", entry, _reason(exc))

        await self._run(delete)

    @staticmethod
    async def _run(fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn)


def _what(entry: str) -> str:
    if entry.startswith(SECRET_ENTRY_PREFIX):
        return entry.removeprefix(SECRET_ENTRY_PREFIX)
    return _WHAT.get(entry, entry)


def _reason(exc: BaseException, secret: str = "") -> str:
    """An exception in words for a message, with `secret` blanked out should it appear."""
    text = str(exc)
    if secret:
        text = text.replace(secret, "…")
    return sanitize(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, 160)
