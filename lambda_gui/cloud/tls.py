"""The TLS settings of every HTTPS call to Lambda Cloud.

OpenSSL finds the system's CA certificates at a path fixed when it was built (for example
/usr/lib/ssl/certs on Debian, /etc/pki/tls on Fedora). A frozen app (PyInstaller) ships the
libcrypto of the machine it was built on, so on another distribution that path may hold
nothing and every HTTPS call would fail certificate verification. certifi's CA bundle travels
inside the app instead, so verification works the same everywhere.
"""

from __future__ import annotations

import ssl
from functools import cache

import certifi


@cache
def tls_context() -> ssl.SSLContext:
    """The client context for HTTPS: certifi's CA bundle, certificate and host name checked.

    Built once (loading the bundle takes a few milliseconds) and shared by every session.
    """
    return ssl.create_default_context(cafile=certifi.where())
