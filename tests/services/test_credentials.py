"""The keyring-backed credential store: saved, forgotten, and kept for the session when the
keyring cannot store; backends classified by how safely they keep secrets."""

from __future__ import annotations

import keyring.backend
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null
import pytest

from lambda_gui.core.errors import CredentialStoreError
from lambda_gui.services.credentials import (
    API_KEY_ENTRY,
    SERVICE,
    SSH_KEY_ENTRY,
    CredentialStore,
    describe_backend,
)


class DictKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop((service, username), None)


class PlaintextKeyring(DictKeyring):
    """Named like keyrings.alt's file backend, which keeps secrets in a readable file."""


async def test_saves_reads_and_forgets() -> None:
    backend = DictKeyring()
    store = CredentialStore(backend=backend)
    assert await store.api_key() is None
    assert await store.save_api_key("  secret_abc  ") is True
    assert backend.values[(SERVICE, API_KEY_ENTRY)] == "secret_abc"
    assert await store.save_ssh_key_path("/home/me/.ssh/id_ed25519")
    assert await CredentialStore(backend=backend).ssh_key_path() == "/home/me/.ssh/id_ed25519"
    await store.save_ssh_key_path(None)
    assert (SERVICE, SSH_KEY_ENTRY) not in backend.values
    await store.forget()
    assert backend.values == {}
    info = await store.info()
    assert info.can_store and info.secure and not info.warning


async def test_a_keyring_that_cannot_store_keeps_values_for_the_session() -> None:
    store = CredentialStore(backend=keyring.backends.fail.Keyring())
    info = await store.info()
    assert not info.can_store and not info.secure and "this session only" in info.warning
    assert await store.save_api_key("secret_x") is False
    assert await store.api_key() == "secret_x"
    assert await CredentialStore(backend=keyring.backends.fail.Keyring()).api_key() is None
    await store.forget()
    assert await store.api_key() is None


def test_backends_are_classified() -> None:
    assert not describe_backend(keyring.backends.null.Keyring()).can_store
    plain = describe_backend(PlaintextKeyring())
    assert plain.can_store and not plain.secure and "plain file" in plain.warning

    class Chain(keyring.backends.chainer.ChainerBackend):
        backends = [keyring.backends.fail.Keyring(), DictKeyring()]  # type: ignore[assignment]

    chained = describe_backend(Chain())
    assert chained.can_store and chained.secure


# --- backends that lose or refuse the key: never silent, never raising -------------------


class BlackHoleKeyring(DictKeyring):
    """Accepts every value and keeps none: a null backend that does not say so by its name."""

    def set_password(self, service: str, username: str, password: str) -> None:
        pass


class BrokenKeyring(DictKeyring):
    """Raises what third-party backends raise, not keyring's own KeyringError."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error

    def delete_password(self, service: str, username: str) -> None:
        raise self.error


async def test_a_backend_that_keeps_nothing_is_caught_by_reading_back() -> None:
    store = CredentialStore(backend=BlackHoleKeyring())
    assert (await store.info()).can_store  # it claims to store
    assert await store.save_api_key("secret_lost") is False
    assert await store.api_key() == "secret_lost"  # usable for this session
    problem = store.problem
    assert isinstance(problem, CredentialStoreError) and isinstance(problem, RuntimeError)
    assert "accepted the API key but did not keep it" in str(problem)
    assert "this session only" in str(problem) and "Settings" in str(problem)
    info = await store.info()
    assert not info.can_store and info.warning == str(problem)  # what the dialogs show
    assert "secret_lost" not in info.warning


async def test_the_null_backend_loses_nothing_for_the_session() -> None:
    store = CredentialStore(backend=keyring.backends.null.Keyring())
    assert await store.save_api_key("secret_null") is False
    assert await store.api_key() == "secret_null"
    assert store.problem is not None
    assert "this session only" in (await store.info()).warning


@pytest.mark.parametrize(
    "error",
    [RuntimeError("dbus died holding secret_boom"), ValueError("bad"), OSError(5, "I/O error")],
)
async def test_any_backend_exception_becomes_a_typed_problem(error: Exception) -> None:
    store = CredentialStore(backend=BrokenKeyring(error))
    assert await store.api_key() is None  # a read failure is "nothing saved"
    assert isinstance(store.problem, CredentialStoreError)
    assert "could not be read" in str(store.problem)
    assert await store.save_api_key("secret_boom") is False
    assert await store.api_key() == "secret_boom"
    text = str(store.problem)
    assert "could not save the API key" in text and type(error).__name__ in text
    assert "secret_boom" not in text  # blanked even when the backend's message echoes it
    assert await store.save_ssh_key_path("/home/me/.ssh/id") is False
    assert await store.ssh_key_path() == "/home/me/.ssh/id"
    assert "could not save the SSH key path" in str(store.problem)
    await store.forget()  # deleting through a broken backend is quiet too
    assert await store.api_key() is None
    info = await store.info()
    assert not info.can_store and info.warning == str(store.problem)


async def test_a_save_that_sticks_clears_the_problem() -> None:
    backend = BlackHoleKeyring()
    store = CredentialStore(backend=backend)
    await store.save_api_key("secret_a")
    assert store.problem is not None
    store._backend = DictKeyring()  # the user unlocked a working keyring
    assert await store.save_api_key("secret_b") is True
    assert store.problem is None and (await store.info()).can_store
