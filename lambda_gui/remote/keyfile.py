"""Reading and writing SSH private key files (paramiko): for connecting and for key matching."""

from __future__ import annotations

import hashlib
import os
import re
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


# The stem of a key file: letters, digits, '-' and '_' from the key's name (no '/', '.', NUL or
# control character can pass), capped, then a hash of the whole name so that two names with
# the same slug never share a file.
_UNSAFE_IN_STEM = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_SLUG = 48
_MAX_TRIES = 100


def key_file_name(name: str) -> str:
    """The file name for a key Lambda named `name`: a safe slug and a hash, never the raw name."""
    slug = _UNSAFE_IN_STEM.sub("-", name).strip("-")[:_MAX_SLUG].strip("-") or "key"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{slug}-{digest}.pem"


def save_private_key(directory: Path, name: str, private_key: str) -> Path:
    """Write a private key Lambda generated, readable by the owner only; blocking.

    The key's name comes from the API, so the file is named by key_file_name(), inside
    `directory` whatever the name holds.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stem = key_file_name(name).removesuffix(".pem")
    for attempt in range(_MAX_TRIES):
        path = directory / (f"{stem}.pem" if attempt == 0 else f"{stem}-{attempt + 1}.pem")
        try:
            # O_EXCL: never overwrite a key that may still be the only copy of another.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(private_key if private_key.endswith("\n") else private_key + "\n")
        return path
    raise SSHKeyError(
        f"Could not save SSH key {name[:64]!r}: {directory} already holds {_MAX_TRIES} key "
        f"files named {stem}*.pem.",
        suggestion="Delete the key files you no longer use from that folder, then connect again.",
    )
