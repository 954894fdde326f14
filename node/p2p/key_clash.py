"""Two live processes holding one peer's node key, seen by a node both of them dial.

The signing guard (``node.runtime.signing_guard``) catches a copied validator key once the copy has
synced and met the original's precommits. A copy that cannot sync escapes it: of two connections with
one key, the transport keeps the one dialed by the lower key, so a node whose key sorts below the copied
one keeps the link it dialed itself to the original's address and closes each of the copy's. The copy
of a validator whose key sorts above every peer's is so refused by everyone; it stays at height 0 and
nobody hears it, but nobody is told either (docs/health.md, "Signing safety").

The node that refuses holds the evidence: a duplicate connection proved possession of the key in a
fresh handshake, and the link it kept proves a second, live holder when it delivers a frame after that.
Three honest cases look alike at first and are ruled out:

- both sides dialed at once: the two connections are seconds apart, so a refusal counts only when the
  kept link is older than ``settle_s`` (longer than a handshake may take);
- a peer restarted, or saw the link die, and redialed before we noticed: its old process (or its old
  view of the link) sends nothing more on the kept link, so a frame there ``grace_s`` or more after the
  refusal is what counts, not the frames already in flight;
- anything that happens once: ``needed`` such refusals within ``window_s`` are required. A copy redials
  at least every 10 s (the dial backoff's ceiling) and is refused each time.

This module only decides; the transport tells it what happened and logs what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class KeyClash:
    """``key`` signed fresh handshakes from ``refused_address`` while the link to ``kept_address`` lived."""

    key: bytes
    refused_address: str
    kept_address: str
    seen: int
    """Refusals followed by frames on the kept link, within the window, this one included."""
    report: bool
    """The first clash of this key in a window: the one to log (every clash is counted)."""


@dataclass
class _Mark:
    refused_at: float
    refused_address: str
    kept_address: str


@dataclass
class KeyClashWatch:
    settle_s: float = 5.0
    grace_s: float = 1.0
    window_s: float = 120.0
    needed: int = 2
    _marks: dict[bytes, _Mark] = field(default_factory=dict, init=False)
    _evidence: dict[bytes, list[float]] = field(default_factory=dict, init=False)
    _reported: dict[bytes, float] = field(default_factory=dict, init=False)

    def refused(self, key: bytes, kept_opened_at: float, refused_address: str, kept_address: str,
                now: float) -> None:
        """The transport closed a new, handshaken connection with ``key`` and kept an older link."""
        if now - kept_opened_at >= self.settle_s:
            self._marks[key] = _Mark(now, refused_address, kept_address)

    def watching(self, key: bytes) -> bool:
        """Cheap, for every frame: does a frame from ``key`` mean anything now?"""
        return key in self._marks

    def delivered(self, key: bytes, now: float) -> KeyClash | None:
        """A frame arrived on ``key``'s kept link. Returns a clash once ``needed`` refusals within the
        window were each followed by a frame on the kept link, and for every such refusal after that."""
        mark = self._marks.get(key)
        if mark is None or now - mark.refused_at < self.grace_s:
            return None
        del self._marks[key]
        seen = [t for t in self._evidence.get(key, []) if now - t < self.window_s]
        seen.append(now)
        self._evidence[key] = seen
        if len(seen) < self.needed:
            return None
        last = self._reported.get(key)
        report = last is None or now - last >= self.window_s
        if report:
            self._reported[key] = now
        return KeyClash(key, mark.refused_address, mark.kept_address, len(seen), report)

    def link_lost(self, key: bytes) -> None:
        """The kept link closed: a mark against it proves nothing any more (its process may be the one
        that redials next)."""
        self._marks.pop(key, None)

    def forget(self, key: bytes) -> None:
        """The peer left the peer set."""
        self._marks.pop(key, None)
        self._evidence.pop(key, None)
        self._reported.pop(key, None)
