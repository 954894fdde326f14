"""The p2p wing's errors: one root, so a caller can tell a peer-link failure from our own bug.

Every one carries a stable ``code`` (for counters and logs). None reaches a client: a peer's fault
drops that peer's connection or message; the node keeps running.
"""

from __future__ import annotations


class P2PError(Exception):
    code = "p2p_error"


class FrameError(P2PError):
    """The peer sent a frame we refuse (its fault): the connection is dropped and counted."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class PeerClosed(P2PError):
    """The peer closed the connection (cleanly or mid-frame); not a protocol violation."""

    code = "peer_closed"


class HandshakeError(P2PError):
    """The handshake did not complete; ``code`` says why (stable, for counters and logs)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


class PayloadTooLarge(P2PError, ValueError):
    """We were asked to send more than a frame carries: our bug (limits derive from one place)."""

    code = "payload_too_large"
