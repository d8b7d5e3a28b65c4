"""One private-key loader for connecting and for matching keys: what it says about bad files."""

from __future__ import annotations

import re
from pathlib import Path

import paramiko
import pytest

from lambda_gui.core.errors import SSHError, SSHKeyError
from lambda_gui.remote.keyfile import (
    key_file_name,
    load_identity,
    load_private_key,
    save_private_key,
)
from lambda_gui.remote.ssh_session import connect_sync
from lambda_gui.remote.ssh_target import SSHTarget, SSHTimeouts


@pytest.fixture(scope="module")
def rsa_key() -> paramiko.RSAKey:
    return paramiko.RSAKey.generate(2048)


def test_a_good_key_loads_with_its_public_half(tmp_path: Path, rsa_key: paramiko.RSAKey) -> None:
    path = tmp_path / "id_rsa"
    rsa_key.write_private_key_file(str(path))
    assert load_private_key(path).get_base64() == rsa_key.get_base64()
    identity = load_identity(path)
    assert identity.public_key == f"ssh-rsa {rsa_key.get_base64()}"
    assert identity.fingerprint == rsa_key.fingerprint
    assert identity.matches(f"ssh-rsa {rsa_key.get_base64()} me@laptop")


def test_bad_files_say_what_is_wrong(tmp_path: Path, rsa_key: paramiko.RSAKey) -> None:
    locked = tmp_path / "locked"
    rsa_key.write_private_key_file(str(locked), password="pw")
    garbage = tmp_path / "garbage"
    garbage.write_text("not a key\n")
    cases = {
        tmp_path / "absent": "does not exist",
        tmp_path: "is a folder",
        locked: "passphrase",
        garbage: "not a usable SSH private key",
    }
    for path, message in cases.items():
        with pytest.raises(SSHKeyError, match=message):
            load_private_key(path)
        with pytest.raises(SSHKeyError, match=message):
            load_identity(path)


def test_connecting_with_a_bad_key_is_an_ssh_error(tmp_path: Path) -> None:
    """connect's callers handle SSHError; the key is read before any network traffic."""
    target = SSHTarget(host="192.0.2.1", key_path=tmp_path / "absent", instance_id="i-1")
    with pytest.raises(SSHError, match="does not exist") as caught:
        connect_sync(target, tmp_path / "known_hosts", SSHTimeouts(connect=0.1))
    assert not isinstance(caught.value, SSHKeyError)


# --- a key's name comes from the API: it never becomes a path ------------------------------


HOSTILE_NAMES = [
    "../../../../tmp/evil",
    "/etc/cron.d/evil",
    "..",
    ".",
    "",
    "a\x00b",
    "line\nbreak\r\x1b[31m",
    "C:\\Windows\\evil",
    "x" * 5000,
    "ключ-🔑",
    "\ud800",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_key_file_is_named_by_a_safe_slug_inside_the_keys_folder(
    tmp_path: Path, name: str
) -> None:
    keys = tmp_path / "keys"
    path = save_private_key(keys, name, "-----BEGIN KEY-----\nx\n-----END KEY-----")
    assert path.parent == keys and path.resolve().parent == keys.resolve()
    file_name = key_file_name(name)
    assert path.name == file_name and file_name.endswith(".pem")
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.pem", file_name) and not file_name.startswith("-")
    assert len(file_name) <= 48 + 1 + 12 + 4
    assert list(tmp_path.iterdir()) == [keys]  # nothing written outside the keys folder
    assert path.read_text(encoding="utf-8").endswith("-----END KEY-----\n")


def test_names_with_the_same_slug_get_different_files_and_none_is_overwritten(
    tmp_path: Path,
) -> None:
    assert key_file_name("a/b") != key_file_name("a?b")  # both slug to "a-b"
    first = save_private_key(tmp_path, "same", "one")
    second = save_private_key(tmp_path, "same", "two")
    assert first != second and first.read_text() == "one\n" and second.read_text() == "two\n"
    assert key_file_name("lambda-gui-host-generated").startswith("lambda-gui-host-generated-")
