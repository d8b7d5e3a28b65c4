"""Reading and writing SSH private key files (paramiko): for connecting and for key matching."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import paramiko

from lambda_gui.core.errors import SSHKeyError


@dataclass(frozen=True)
class KeyIdentity:
    """A private key file and its public half in OpenSSH's one-line form."""

    path: Path
    public_key: str  # "<type> <base64>"
    fingerprint: str  # SHA256:... as ssh-keygen -l prints it

    def matches(self, public_key_line: str) -> bool:
        """True when an authorized_keys-style line names the same key (comment ignored)."""
        return public_key_line.split()[:2] == self.public_key.split()[:2]


def load_private_key(key_path: Path | str) -> paramiko.PKey:
    """Read an unencrypted private key file, or raise SSHKeyError saying what is wrong; blocking."""
    path = Path(key_path).expanduser()
    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError:
        raise SSHKeyError(
            f"The SSH private key {path} does not exist.",
            suggestion="Choose the private key file (not the .pub) you registered with Lambda.",
        ) from None
    except IsADirectoryError:
        raise SSHKeyError(
            f"{path} is a folder, not an SSH private key.",
            suggestion="Choose the private key file (not the .pub) you registered with Lambda.",
        ) from None
    except PermissionError:
        raise SSHKeyError(
            f"The SSH private key {path} cannot be read (permission denied)."
        ) from None
    except (paramiko.SSHException, ValueError, TypeError, OSError) as exc:
        # A key locked by a passphrase comes as PasswordRequiredException or, from the
        # cryptography library underneath, as a TypeError that names the password.
        locked = isinstance(exc, paramiko.PasswordRequiredException) or (
            isinstance(exc, TypeError) and "password" in str(exc).lower()
        )
        if locked:
            raise SSHKeyError(
                f"The SSH private key {path} is protected by a passphrase.",
                suggestion="Use a key without a passphrase for the app, or let the app generate one.",
            ) from None
        raise SSHKeyError(
            f"The file {path} is not a usable SSH private key ({exc}).",
            suggestion="Use an unencrypted OpenSSH or PEM private key (ed25519, ECDSA or RSA).",
        ) from None


def load_identity(path: Path) -> KeyIdentity:
    """Read a private key file and its public half; blocking (call it in an executor)."""
    path = path.expanduser()
    key = load_private_key(path)
    return KeyIdentity(
        path=path, public_key=f"{key.get_name()} {key.get_base64()}", fingerprint=key.fingerprint
    )


def save_private_key(directory: Path, name: str, private_key: str) -> Path:
    """Write a private key Lambda generated, readable by the owner only; blocking."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.pem"
    # O_EXCL: never overwrite a key that may still be the only copy of another.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(private_key if private_key.endswith("\n") else private_key + "\n")
    return path
