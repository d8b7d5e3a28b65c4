"""The paramiko Transport we use: tuned for throughput, and safe across re-keys."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import paramiko

from lambda_gui.remote.ssh_target import (
    MAX_PACKET_SIZE,
    PREFERRED_CIPHERS,
    WINDOW_SIZE,
    SSHTimeouts,
)


class KexSafeTransport(paramiko.Transport):
    """A Transport whose own thread never waits for a re-key that only it can finish.

    When paramiko starts a re-key while the server, not yet aware of it, closes a channel (or
    sends a global request), paramiko's transport thread must reply, and waits for the re-key
    to end first. The re-key can only progress on that same thread, so the connection stalls
    for 30 s and dies with "Key-exchange timed out waiting for key negotiation"
    (docs/architecture.md#library-facts). Here such replies are queued and sent as soon as the
    new keys are in use, which is what the protocol asks for.
    """

    def __init__(self, sock: socket.socket, **kwargs: Any) -> None:
        super().__init__(sock, **kwargs)
        self._deferred_messages: list[paramiko.Message] = []

    # paramiko's private methods are not in its type stubs, hence the ignores below.

    def _send_user_message(self, data: paramiko.Message) -> None:
        if threading.current_thread() is not self:
            super()._send_user_message(data)  # type: ignore[misc]
            return
        with self.clear_to_send_lock:
            if self.clear_to_send.is_set():
                self._send_message(data)  # type: ignore[attr-defined]
            else:
                self._deferred_messages.append(data)

    def _parse_newkeys(self, m: paramiko.Message) -> None:
        super()._parse_newkeys(m)  # type: ignore[misc]
        with self.clear_to_send_lock:
            if self.clear_to_send.is_set():
                deferred, self._deferred_messages = self._deferred_messages, []
                for message in deferred:
                    self._send_message(message)  # type: ignore[attr-defined]


def tuned_transport_factory(timeouts: SSHTimeouts) -> Callable[..., paramiko.Transport]:
    """A `transport_factory` for SSHClient.connect: big window and packets, aes128-gcm first."""

    def factory(sock: socket.socket, **kwargs: Any) -> paramiko.Transport:
        transport = KexSafeTransport(
            sock,
            default_window_size=WINDOW_SIZE,
            default_max_packet_size=MAX_PACKET_SIZE,
            **kwargs,
        )
        options = transport.get_security_options()
        offered = tuple(options.ciphers)
        preferred = [c for c in PREFERRED_CIPHERS if c in offered]
        options.ciphers = tuple(preferred + [c for c in offered if c not in preferred])
        transport.handshake_timeout = timeouts.handshake
        return transport

    return factory


def close_quietly(channel: paramiko.Channel) -> None:
    """Close a channel whose connection may already be gone; errors mean it is closed anyway."""
    try:
        channel.close()
    except (paramiko.SSHException, OSError, EOFError):
        pass
