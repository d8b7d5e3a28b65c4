"""Reading and writing SSH private key files (paramiko), for key matching at connect."""

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


def load_identity(path: Path) -> KeyIdentity:
    """Read a private key file; blocking (call it in an executor)."""
    path = path.expanduser()
    if not path.is_file():
        raise SSHKeyError(
            f"SSH private key {str(path)!r} does not exist.",
            suggestion="Choose the private key file (not the .pub) you registered with Lambda.",
        )
    try:
        key = paramiko.PKey.from_path(str(path))
    except paramiko.PasswordRequiredException as exc:
        raise SSHKeyError(
            f"SSH private key {str(path)!r} is protected by a passphrase.",
            suggestion="Use a key without a passphrase for the app, or let the app generate one.",
        ) from exc
    except (paramiko.SSHException, ValueError, OSError) as exc:
        raise SSHKeyError(
            f"{str(path)!r} is not a readable SSH private key ({exc}).",
            suggestion="Choose an OpenSSH or PEM private key (ed25519, RSA or ECDSA).",
        ) from exc
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
