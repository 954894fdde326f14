"""Signing safety: a validator stops signing when the chain shows its key signed somewhere else.

The safety record (``node.runtime.safety_store``) keeps one process from contradicting itself. It cannot
help when the key signs from two places: a second process started with a copy of a running validator's
key (an operator's copy-paste), or a data directory restored from a backup older than the validator's
last signature (the restored process does not know what its earlier self signed at the current
height). Both have happened to BFT operators, and both lead to double signing.

The evidence we use is verifiable and cannot be forged by a hostile peer: commit certificates. Every
committed block's certificate carries the precommits of a quorum, each signed. The record is written
durably before any own message leaves, so this process knows every precommit it signed above the
height its record had at start (``record_height``). A precommit of our key in a certificate at a
higher height that this process did not sign was signed by another process (or by this validator
before its data directory was restored). Seen once, this node stops signing for good (until an
operator restarts it), logs an error, and reports it in ``/v1/status`` and ``/readyz``.

A restored validator legitimately meets its own old signatures while it catches up. Starting it with
``bakong node --accept-restored-safety`` says "no other process holds this key": foreign precommits
found before this process signs anything are then logged and accepted; after its first own signature
the rule applies again, so a twin started later is still caught.

Limits, said plainly: a twin whose precommits never reach a certificate (another validator's vote was
counted instead) is not seen this way; equivocation evidence recorded by peers (``/v1/evidence`` on
every node) is the second line. A twin that signs exactly what we sign (same height, round, value)
signs nothing that contradicts us and is not distinguishable here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from consensus.certificate import CommitCertificate
from consensus.messages import Precommit, SignedMessage

log = logging.getLogger("bakong.signing")

KEEP_HEIGHTS = 64
"""Own precommits remembered, by height below the newest: certificates arrive for the height just
decided (consensus) or in order (block sync), never far behind what we signed."""


@dataclass(frozen=True)
class SigningHalt:
    """Why this validator stopped signing: ``code`` for machines, ``message`` for the operator."""

    code: str
    message: str
    height: int


class SigningGuard:
    def __init__(self, own_key: bytes, record_height: int, accept_restored: bool) -> None:
        """``record_height``: the height of the last message the safety record held at start (-1 for
        none: a new validator, or a data directory without its consensus folder)."""
        self.own_key = own_key
        self.record_height = record_height
        self.accept_restored = accept_restored
        self.halt: SigningHalt | None = None
        self._signed: set[tuple[int, int, bytes]] = set()
        self._signed_any = False
        self.accepted_foreign = 0

    def signed(self, message: SignedMessage) -> None:
        """Every own message, as it leaves (after the safety record is stored)."""
        self._signed_any = True
        if isinstance(message, Precommit) and message.value_id is not None:
            self._signed.add((message.height, message.round, message.value_id))
            if len(self._signed) > 4 * KEEP_HEIGHTS:
                floor = message.height - KEEP_HEIGHTS
                self._signed = {entry for entry in self._signed if entry[0] >= floor}

    def check(self, certificate: CommitCertificate) -> SigningHalt | None:
        """A committed block's (verified) certificate. Returns the halt when this one caused it."""
        if self.halt is not None or certificate.height <= self.record_height:
            return None
        if not any(key == self.own_key for key, _signature in certificate.signatures):
            return None
        if (certificate.height, certificate.round, certificate.value_id) in self._signed:
            return None
        if self.accept_restored and not self._signed_any:
            self.accepted_foreign += 1
            log.warning("height %d: the certificate holds a precommit of this validator's key that this process "
                        "did not sign; accepted (--accept-restored-safety)", certificate.height)
            return None
        if self._signed_any:
            code = "key_signing_elsewhere"
            message = (f"the certificate of height {certificate.height} holds a precommit of this validator's key "
                       "that this process did not sign: another process is signing with this key. Stopped "
                       "signing; stop the other process, then restart this one")
        else:
            code = "data_dir_older_than_last_signature"
            message = (f"this validator's key precommitted at height {certificate.height}, above the safety record "
                       f"in this data directory (height {self.record_height}): the directory is older than the "
                       "validator's last signature (restored from a backup?) or another process holds the key. "
                       "Not signing. Once no other process holds the key, restart with --accept-restored-safety")
        self.halt = SigningHalt(code, message, certificate.height)
        log.error("signing stopped: %s: %s", code, message)
        return self.halt
