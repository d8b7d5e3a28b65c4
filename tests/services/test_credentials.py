"""The keyring-backed credential store: saved, forgotten, and kept for the session when the
keyring cannot store; backends classified by how safely they keep secrets."""

from __future__ import annotations

import keyring.backend
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null

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
