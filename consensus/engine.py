"""The consensus engine: Algorithm 1 of "The latest gossip on BFT consensus" as a sans-IO state machine.

    engine = Engine(chain_id, key, timeouts, safety=stored_record_or_None)
    actions = engine.handle(StartHeight(height, validators), now)
    actions = engine.handle(MessageReceived(message), now)     # and TimeoutFired, ValueBuilt, ...

``handle`` never blocks, never raises on a peer's input, reads no clock and draws no randomness: the
same events in the same order give the same actions. Each rule below names the paper's line numbers
(pseudo-code of arXiv 1807.04938v3, Algorithm 1); docs/consensus.md has the full table.

Departures from the pseudo-code, all documented in docs/consensus.md:
- ``valid(v)`` is asynchronous: the first proposal of a value emits ``ValidateValue`` and rules that
  need validity wait for ``ValueValidated``; ``getValue()`` is ``BuildValue`` / ``ValueBuilt``.
- The proposer also schedules timeoutPropose, so a builder that never answers cannot stall it.
- Line 49 accepts the value from any proposal of the height with the decided id (the bytes are what
  matters), and ``DecisionReceived`` (a certificate from block sync) decides as well.
- After a decision the engine waits for ``StartHeight(h + 1, validators)``: the set comes from outside.
- Messages are identified by content, not signature bytes (a re-signed identical vote is one vote).
  Votes are counted per value by distinct validators, so an equivocator counts for each value it
  signed (as the paper counts messages) as long as that value is endorsed by n//3+1 validators;
  ``consensus.round_log`` explains why this keeps honest views of a polka equal with bounded memory.
- Memory per signer is bounded: messages for future heights are checked (membership in the current
  set, proposer, signature), deduplicated and buffered within a byte budget per signer; proposals
  at the current height within a byte budget per signer, old unneeded ones evicted first.
- The driver must provide the paper's gossip: when it makes no progress it re-sends
  ``known_messages()`` to its peers, and it answers peers that are behind with a committed block and
  its certificate (block sync, fed back as ``DecisionReceived``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from consensus.actions import (
    Action,
    Broadcast,
    BuildValue,
    Commit,
    PersistSafety,
    ReportEvidence,
    ScheduleTimeout,
    ValidateValue,
)
from consensus.certificate import CommitCertificate, InvalidCertificate
from consensus.crypto import KeyPair, hash_bytes, verify
from consensus.events import (
    DecisionReceived,
    Event,
    MessageReceived,
    StartHeight,
    TimeoutFired,
    ValueBuilt,
    ValueValidated,
)
from consensus.evidence import Evidence
from consensus.messages import (
    Precommit,
    Prevote,
    Proposal,
    ProposalRef,
    SignedMessage,
    Step,
    Verifier,
    entry_of,
    sign_precommit,
    sign_prevote,
    sign_proposal,
)
from consensus.round_log import Added, RoundLog
from consensus.safety import SafetyRecord
from consensus.timeouts import TimeoutConfig
from consensus.validators import ValidatorSet


@dataclass(frozen=True)
class EngineLimits:
    """Bounds on what peers can make the engine store."""

    max_buffered_messages: int = 10_000
    """Messages kept for heights not started yet, in all."""
    max_buffered_bytes_per_signer: int = 4 * 1024 * 1024
    """Bytes kept per signer for heights not started yet (the node sets one maximal proposal + votes)."""
    max_future_heights: int = 2
    """How far ahead of the current height messages are buffered at all."""
    max_future_rounds: int = 1_000
    """Messages more than this many rounds ahead of ours are dropped (re-gossip brings them back)."""
    max_proposals_per_round: int = 4
    """Distinct values kept from an equivocating proposer in one round (more only when endorsed)."""
    max_proposal_bytes_per_signer: int = 64 * 1024 * 1024
    """Bytes of proposals kept per signer at the current height; past it, its old proposals that
    nothing needs are forgotten, and if that is not enough, the new one is dropped."""


@dataclass
class Counters:
    """Why messages and events were dropped or refused; exposed for metrics, never reset."""

    accepted: int = 0
    """Messages that entered the log."""
    duplicate: int = 0
    """Exact copies of messages already seen."""
    bad_signature: int = 0
    """Signatures that do not verify."""
    unknown_validator: int = 0
    """Signers outside the height's validator set."""
    wrong_proposer: int = 0
    """Proposals from a validator that is not the round's proposer."""
    stale_height: int = 0
    """Messages for heights already decided."""
    buffered: int = 0
    """Messages for future heights put aside."""
    buffer_full: int = 0
    """Future-height messages dropped because the buffer was full or they were too far ahead."""
    round_too_far: int = 0
    """Messages for rounds beyond ``max_future_rounds`` ahead."""
    equivocations: int = 0
    """Conflicting messages turned into evidence."""
    conflicts_dropped: int = 0
    """Conflicting messages not kept: their value is not endorsed (yet), so they cannot matter."""
    over_budget: int = 0
    """Proposals or future-height messages dropped by a per-signer byte budget."""
    evicted: int = 0
    """Old proposals nothing needed, forgotten to make room under a signer's byte budget."""
    refused_to_sign: int = 0
    """Signatures the safety record refused (only a restored or misused engine should ever hit this)."""
    stale_events: int = 0
    """Timeouts and answers for a height/round/step we have left."""
    bad_decisions: int = 0
    """DecisionReceived whose certificate or value did not check out."""
    waited_for_validation: int = 0
    """Propose timeouts that found the round's proposal received but still being validated, and waited
    for the answer instead of prevoting nil (the paper's valid(v) is instantaneous)."""

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Engine:
    """One validator's (or, with ``key=None``, one observer's) view of consensus; see module docstring."""

    def __init__(self, chain_id: str, key: KeyPair | None, timeouts: TimeoutConfig | None = None,
                 safety: SafetyRecord | None = None, verifier: Verifier = verify,
                 limits: EngineLimits | None = None, values: Mapping[bytes, bytes] | None = None) -> None:
        self.chain_id = chain_id
        self.key = key
        self.public_key = key.public_key if key is not None else None
        self.timeouts = timeouts or TimeoutConfig()
        self.limits = limits or EngineLimits()
        self.safety = safety or SafetyRecord.initial()
        self.counters = Counters()
        self._verify = verifier
        # Values the safety record names, kept beside it by the driver: checked against their ids.
        self._restored = {hash_bytes(v): v for v in (values or {}).values()}
        self._buffer: dict[SignedMessage, int] = {}  # future-height message -> its size, arrival order
        self._buffer_bytes: dict[bytes, int] = {}
        self._out: list[Action] = []
        self._now = 0.0
        self.height = -1
        self.validators: ValidatorSet | None = None
        self._reset_height()

    # ---- public surface ----

    def handle(self, event: Event, now: float) -> list[Action]:
        """Apply one event at time ``now``; return the actions to carry out, in order."""
        self._now = now
        self._out = []
        if isinstance(event, MessageReceived):
            self._on_message(event.message)
        elif isinstance(event, TimeoutFired):
            self._on_timeout(event)
        elif isinstance(event, StartHeight):
            self._on_start_height(event)
        elif isinstance(event, ValueBuilt):
            self._on_value_built(event)
        elif isinstance(event, ValueValidated):
            self._on_value_validated(event)
        elif isinstance(event, DecisionReceived):
            self._on_decision_received(event)
        else:  # our own caller's bug, not a peer's: fail loudly
            raise TypeError(f"not a consensus event: {event!r}")
        out, self._out = self._out, []
        return out

    @property
    def decided(self) -> bool:
        """True between the Commit of ``height`` and the StartHeight of the next one."""
        return self._decided

    def own_messages(self) -> list[SignedMessage]:
        """This validator's signed messages at the current height, for re-gossip to peers that missed them."""
        return list(self._own)

    def memory_by_signer(self) -> dict[bytes, int]:
        """Approximate bytes this engine keeps per signer: its messages in the round logs of the
        current height and in the future-height buffer (bounded: see EngineLimits)."""
        usage: dict[bytes, int] = dict(self._buffer_bytes)
        for signer, charged in self._proposal_bytes.items():
            usage[signer] = usage.get(signer, 0) + charged
        for log in self._rounds.values():
            for tally in (log.prevotes, log.precommits):
                for validator in tally.first:
                    kept = 1 + len(tally.further.get(validator, ()))
                    usage[validator] = usage.get(validator, 0) + kept * _size_of_vote()
        return usage

    @property
    def valid_value_id(self) -> bytes | None:
        """Id of the paper's validValue (kept even while its bytes are not known)."""
        return self._valid_value_id

    @property
    def valid_value(self) -> bytes | None:
        """The paper's validValue (None also while its bytes are not known again after a restart)."""
        return None if self._valid_value_id is None else self._values.get(self._valid_value_id)

    def known_messages(self) -> list[SignedMessage]:
        """Every checked message of the current height (own and received), oldest round first.

        The paper assumes gossip: what a correct node received, every correct node eventually receives.
        A driver that re-sends these when it makes no progress gives exactly that.
        """
        return [m for _, log in sorted(self._rounds.items()) for m in log.messages()]

    def regossip_messages(self, peer: bytes | None = None) -> list[SignedMessage]:
        """What a stalled driver re-sends to ``peer``: the part of ``known_messages()`` it may still need.

        Votes are small and all go. A proposal carries a whole block (up to the frame limit), and
        re-sending every proposal of every round to every peer each tick is what stalled a loaded
        network of ~16 MB blocks for minutes (each round added a block that four nodes re-sent three
        times a second, and decoding those crowded out the validation that would have ended the stall).
        A proposal still matters to another node only through these rules of the paper:
        - lines 22 and 28 need the current round's proposal, which its proposer sends: our own
          proposals of this round and later go (with its proposer honest, some round after GST
          succeeds on direct sends alone);
        - lines 28, 36 and 49 (and the next proposer's validValue) need a value that 2f+1 validators
          prevoted or precommitted in some round: one proposal carrying each such value goes (the
          newest round's), from whoever has it, which also relays a Byzantine proposer's value that
          half the network never got but that a quorum made decidable.
        Of those, none goes to a ``peer`` that prevoted or precommitted its value at this height: it
        executed the block to vote for it, so it has the bytes (a restarted peer that lost them gets
        proposals again on reconnecting: the network then asks for ``peer`` None, holding nothing back).
        """
        if self.validators is None:
            return []
        quorum = self.validators.quorum
        votes: list[SignedMessage] = []
        carriers: dict[bytes, Proposal] = {}  # value id -> the newest proposal carrying it
        backed: set[bytes | None] = set()  # value ids 2f+1 validators voted for in some round (nil too)
        voted: set[bytes | None] = set()  # value ids ``peer`` voted for
        for _, log in sorted(self._rounds.items()):
            votes.extend(log.prevotes.messages())
            votes.extend(log.precommits.messages())
            for tally in (log.prevotes, log.precommits):
                for value_id, voters in tally.voters.items():
                    if len(voters) >= quorum:
                        backed.add(value_id)
                    if peer in voters:
                        voted.add(value_id)
            carriers.update(log.proposals)
        proposals = [p for value_id, p in carriers.items() if value_id in backed and value_id not in voted]
        # Our own proposals of this round and later go as they are (line 28 needs that round's message).
        own = [p for round_, log in sorted(self._rounds.items()) if round_ >= self.round
               for p in log.proposals.values()
               if p.proposer == self.public_key and p.value_id not in voted and p not in proposals]
        return [*proposals, *own, *votes]

    # ---- per-height state ----

    def _reset_height(self) -> None:
        self.round = 0
        self.step = Step.PROPOSE
        self.locked_round = -1
        self.locked_value_id: bytes | None = None
        self.valid_round = -1
        self._valid_value_id: bytes | None = None
        self._decided = False
        self._rounds: dict[int, RoundLog] = {}
        self._values: dict[bytes, bytes] = {}  # value id -> value, from proposals of this height
        self._validity: dict[bytes, bool] = {}
        self._seen: set[SignedMessage] = set()  # kept (or own) messages, by content
        # Proposals' bytes charged per signer: each distinct value once (re-proposals share its bytes).
        self._proposal_bytes: dict[bytes, int] = {}
        self._proposal_values: dict[bytes, dict[bytes, int]] = {}  # signer -> value id -> proposals kept
        self._evidence_slots: set[tuple[bytes, int, int]] = set()
        self.evidence: list[Evidence] = []  # this height's; the driver stores each as it is reported
        self._fired: set[tuple[int, int]] = set()  # (paper line, round) of "for the first time" rules
        self._building: tuple[int, int] | None = None
        self._own: list[SignedMessage] = []
        # The round whose timeoutPropose fired while its proposal was still being validated: line 57
        # then waits for ValueValidated (see _current_round_rule).
        self._propose_timed_out = -1

    def _log(self, round_: int) -> RoundLog:
        log = self._rounds.get(round_)
        if log is None:
            assert self.validators is not None
            log = self._rounds[round_] = RoundLog(self.limits.max_proposals_per_round,
                                                  self.validators.skip_threshold)
        return log

    def _on_start_height(self, event: StartHeight) -> None:
        if event.height <= self.height:
            self.counters.stale_events += 1
            return
        self.height = event.height
        self.validators = event.validators
        self._reset_height()
        record = self.safety
        if record.height == self.height and self.key is not None:
            self._resume(record)
        else:
            self._start_round(0)
        buffered, self._buffer, self._buffer_bytes = self._buffer, {}, {}
        for message in buffered:
            self._on_message(message, signature_checked=True)

    def _resume(self, record: SafetyRecord) -> None:
        """Continue the height after a restart exactly where the last signature left it."""
        self.round = record.round
        self.step = record.step
        self.locked_round, self.locked_value_id = record.locked_round, record.locked_value_id
        self.valid_round, self._valid_value_id = record.valid_round, record.valid_value_id
        if record.valid_value_id is not None:
            self._validity[record.valid_value_id] = True
            value = self._restored.get(record.valid_value_id)
            if value is not None:
                self._values[record.valid_value_id] = value
        for prevote in record.justification:  # the polkas behind our lock: re-gossiped with the rest
            self._seen.add(prevote)
            self._accept(prevote)
        for entry in record.signed:
            message: SignedMessage
            if isinstance(entry, ProposalRef):
                self._validity[entry.value_id] = True  # we only ever propose values we consider valid
                value = self._restored.get(entry.value_id)
                if value is None:
                    continue  # its bytes are lost: peers' re-gossip of the proposal brings them back
                message = entry.with_value(value)
            else:
                message = entry
            self._own.append(message)
            self._seen.add(message)
            self._out.append(Broadcast(message))  # peers may have missed it: same content, no conflict
            self._accept(message)
        self._restored = {}
        if self.step is Step.PROPOSE:
            self._schedule(Step.PROPOSE)
        self._progress({self.round})

    # ---- StartRound (lines 11-21) ----

    def _start_round(self, round_: int) -> None:
        assert self.validators is not None
        self.round = round_
        self.step = Step.PROPOSE
        if self.public_key is not None and self.validators.proposer(self.height, round_) == self.public_key:
            if self._valid_value_id is not None:  # lines 15-16: re-propose what may already be locked
                value = self.valid_value
                if value is not None:  # else lost in a restart: wait for its bytes, propose nothing
                    self._propose(value, self.valid_round)
            else:  # line 18: getValue(), answered by ValueBuilt
                self._building = (self.height, round_)
                self._out.append(BuildValue(self.height, round_))
        # Line 21 (for every validator: a proposer whose builder never answers must not stall).
        self._schedule(Step.PROPOSE)

    def _on_value_built(self, event: ValueBuilt) -> None:
        if (self._building != (event.height, event.round) or self._decided
                or (event.height, event.round, self.step) != (self.height, self.round, Step.PROPOSE)):
            self.counters.stale_events += 1
            return
        self._building = None
        self._validity[hash_bytes(event.value)] = True  # our own node built it, so it judged it valid
        self._propose(event.value, -1)
        self._progress({self.round})

    def _propose(self, value: bytes, valid_round: int) -> None:
        assert self.key is not None
        proposal = sign_proposal(self.key, self.chain_id, self.height, self.round, value, valid_round)
        if self._sign(proposal):
            self._accept(proposal)

    # ---- messages ----

    def _on_message(self, message: SignedMessage, signature_checked: bool = False) -> None:
        if self.validators is None:
            self.counters.stale_events += 1  # before the first StartHeight nothing can be checked
            return
        if message.height > self.height:
            self._buffer_future(message)
            return
        if message.height < self.height or self._decided:
            self.counters.stale_height += 1
            return
        if message in self._seen:
            self.counters.duplicate += 1
            return
        if message.round > self.round + self.limits.max_future_rounds:
            self.counters.round_too_far += 1
            return
        if not self._from_member(message, self.validators):
            return
        slot = (message.signer, message.round, int(message.kind))
        if slot in self._evidence_slots and not self._log(message.round).would_keep(message):
            # Evidence exists and this message would not be kept: checking its signature would only cost CPU.
            self.counters.conflicts_dropped += 1
            return
        if not signature_checked and not message.has_valid_signature(self.chain_id, self._verify):
            self.counters.bad_signature += 1
            return
        if isinstance(message, Proposal) and not self._make_room(message):
            return
        if self._accept(message):
            # A proposal may bring the bytes of a value that already has 2f+1 precommits in another round.
            self._progress(set(self._rounds) if isinstance(message, Proposal) else {message.round})

    def _from_member(self, message: SignedMessage, validators: ValidatorSet) -> bool:
        """The signer is in ``validators`` and, for a proposal, the proposer of its round (counted if not)."""
        if message.signer not in validators:
            self.counters.unknown_validator += 1
            return False
        if isinstance(message, Proposal) and message.proposer != validators.proposer(message.height, message.round):
            self.counters.wrong_proposer += 1
            return False
        return True

    def _buffer_future(self, message: SignedMessage) -> None:
        """Keep a message for a height not started yet, checked against the current set (the next
        height's set is not known yet; a changed set re-checks membership when the height starts)."""
        assert self.validators is not None
        if message.height > self.height + self.limits.max_future_heights:
            self.counters.buffer_full += 1
            return
        if message in self._buffer:
            self.counters.duplicate += 1
            return
        if not self._from_member(message, self.validators):
            return
        size = _size(message)
        used = self._buffer_bytes.get(message.signer, 0)
        if used + size > self.limits.max_buffered_bytes_per_signer:
            self.counters.over_budget += 1
            return
        if len(self._buffer) >= self.limits.max_buffered_messages:
            self.counters.buffer_full += 1
            return
        if not message.has_valid_signature(self.chain_id, self._verify):
            self.counters.bad_signature += 1
            return
        self.counters.buffered += 1
        self._buffer[message] = size
        self._buffer_bytes[message.signer] = used + size

    def _make_room(self, proposal: Proposal) -> bool:
        """Keep the signer's proposals within its byte budget: forget its old proposals nothing needs
        (not the current round's, not a locked or valid value, not a value votes endorse), oldest first."""
        budget = self.limits.max_proposal_bytes_per_signer
        size = self._cost(proposal)
        if self._proposal_bytes.get(proposal.proposer, 0) + size <= budget:
            return True
        needed = {self.locked_value_id, self._valid_value_id}
        for log in self._rounds.values():
            needed.update(v for v in log.prevotes.voters if log.prevotes.endorsed(v))
            needed.update(v for v in log.precommits.voters if log.precommits.endorsed(v))
        for round_ in sorted(self._rounds):
            if round_ >= self.round:
                break
            log = self._rounds[round_]
            for value_id, old in list(log.proposals.items()):
                if old.proposer != proposal.proposer or value_id in needed:
                    continue
                log.drop_proposal(value_id)
                self._seen.discard(old)
                self._uncharge(old)
                self.counters.evicted += 1
                if not any(value_id in other.proposals for other in self._rounds.values()):
                    self._values.pop(value_id, None)
                if self._proposal_bytes[proposal.proposer] + size <= budget:
                    return True
        self.counters.over_budget += 1
        return False

    def _cost(self, proposal: Proposal) -> int:
        """What keeping ``proposal`` adds to its signer's charge: its value only if it is new for it."""
        held = proposal.value_id in self._proposal_values.get(proposal.proposer, {})
        return _size(proposal) - (len(proposal.value) if held else 0)

    def _charge(self, proposal: Proposal) -> None:
        cost = self._cost(proposal)
        values = self._proposal_values.setdefault(proposal.proposer, {})
        values[proposal.value_id] = values.get(proposal.value_id, 0) + 1
        self._proposal_bytes[proposal.proposer] = self._proposal_bytes.get(proposal.proposer, 0) + cost

    def _uncharge(self, proposal: Proposal) -> None:
        values = self._proposal_values[proposal.proposer]
        values[proposal.value_id] -= 1
        freed = _size(proposal) - len(proposal.value)
        if values[proposal.value_id] == 0:
            del values[proposal.value_id]
            freed += len(proposal.value)
        self._proposal_bytes[proposal.proposer] -= freed

    def _accept(self, message: SignedMessage) -> bool:
        """Add a checked message to the log; report equivocation. True when the log changed."""
        log = self._log(message.round)
        other: SignedMessage | None
        if isinstance(message, Proposal):
            added, other = log.add_proposal(message)
        else:
            added, vote = log.add_vote(message)
            other = vote if isinstance(vote, (Prevote, Precommit)) else None
        if added is Added.CONFLICT or added is Added.UNENDORSED:
            assert other is not None
            self._report(Evidence(entry_of(other), entry_of(message)))
        if added is Added.DUPLICATE:
            self.counters.duplicate += 1
            return False
        if added is Added.UNENDORSED:
            self.counters.conflicts_dropped += 1  # not kept, so not "seen": re-gossip may bring it back
            return False
        self._seen.add(message)
        self.counters.accepted += 1
        if isinstance(message, Proposal):
            shared = self._values.get(message.value_id)
            if shared is not None and shared is not message.value:
                # A re-proposal of a value held already: keep one copy of its bytes, not one per round.
                object.__setattr__(message, "value", shared)
            self._charge(message)
            if message.value_id not in self._values:
                self._values[message.value_id] = message.value
                if message.value_id not in self._validity:
                    self._out.append(ValidateValue(self.height, message.round, message.value_id, message.value))
        return True

    def _report(self, evidence: Evidence) -> None:
        slot = (evidence.validator, evidence.round, int(evidence.kind))
        if slot in self._evidence_slots:
            return
        self._evidence_slots.add(slot)
        self.counters.equivocations += 1
        self.evidence.append(evidence)
        self._out.append(ReportEvidence(evidence))

    def _on_value_validated(self, event: ValueValidated) -> None:
        if event.height != self.height or self._decided or event.value_id not in self._values:
            self.counters.stale_events += 1
            return
        if event.value_id in self._validity:
            return
        self._validity[event.value_id] = event.valid
        self._progress(set(self._rounds))

    # ---- timeouts (lines 57-67) ----

    def _schedule(self, step: Step) -> None:
        at = self._now + self.timeouts.duration(step, self.round)
        self._out.append(ScheduleTimeout(self.height, self.round, step, at))

    def _on_timeout(self, event: TimeoutFired) -> None:
        if (event.height, event.round) != (self.height, self.round) or self._decided:
            self.counters.stale_events += 1
            return
        if event.step is Step.PROPOSE and self.step is Step.PROPOSE:  # lines 57-60, in _current_round_rule
            self._propose_timed_out = self.round
            if self._validating(self.round):
                self.counters.waited_for_validation += 1
        elif event.step is Step.PREVOTE and self.step is Step.PREVOTE:  # lines 61-64
            self._precommit(None)
        elif event.step is Step.PRECOMMIT:  # lines 65-67
            self._start_round(self.round + 1)
        else:
            self.counters.stale_events += 1
            return
        self._progress({self.round})

    # ---- votes we cast ----

    def _prevote(self, value_id: bytes | None) -> None:
        self.step = Step.PREVOTE
        if self.key is not None:
            vote = sign_prevote(self.key, self.chain_id, self.height, self.round, value_id)
            if self._sign(vote):
                self._accept(vote)

    def _precommit(self, value_id: bytes | None) -> None:
        self.step = Step.PRECOMMIT
        if self.key is not None:
            vote = sign_precommit(self.key, self.chain_id, self.height, self.round, value_id)
            if self._sign(vote):
                self._accept(vote)

    def _sign(self, message: SignedMessage) -> bool:
        """Persist, then broadcast; refuse anything the safety record says could contradict us."""
        if not self.safety.permits(message):
            self.counters.refused_to_sign += 1
            return False
        self.safety = self.safety.after_signing(
            message, self.locked_round, self.locked_value_id, self.valid_round, self._valid_value_id,
            self._justification())
        values = {i: self._values[i] for i in self.safety.value_ids() if i in self._values}
        if isinstance(message, Proposal):  # not in the log yet when it is signed
            values[message.value_id] = message.value
        self._out.append(PersistSafety(self.safety, values))
        self._out.append(Broadcast(message))
        if message not in self._own:
            self._own.append(message)
        self._seen.add(message)
        return True

    def _justification(self) -> tuple[Prevote, ...]:
        """The prevotes behind our lock and valid round, persisted so a restart does not lose them."""
        polkas = {(self.locked_round, self.locked_value_id), (self.valid_round, self._valid_value_id)}
        votes: list[Prevote] = []
        for round_, value_id in sorted(polkas, key=lambda p: p[0]):
            log = self._rounds.get(round_)
            if round_ >= 0 and value_id is not None and log is not None:
                votes.extend(log.prevotes.votes_for(value_id))
        return tuple(votes)

    # ---- the upon-rules ----

    def _progress(self, dirty: set[int]) -> None:
        """Fire enabled rules until none is: each firing changes state, so this terminates."""
        while not self._decided:
            if self._try_decide(dirty | {self.round}):
                return
            if self._try_round_skip(dirty):
                continue
            if not self._current_round_rule():
                return

    def _try_decide(self, rounds: set[int]) -> bool:
        """Lines 49-54: a proposal and 2f+1 precommits for it in some round decide its value."""
        assert self.validators is not None
        for round_ in sorted(rounds):
            log = self._rounds.get(round_)
            if log is None:
                continue
            for value_id, voters in log.precommits.voters.items():
                if value_id is None or len(voters) < self.validators.quorum:
                    continue
                value = self._values.get(value_id)
                if value is None or self._validity.get(value_id) is not True:
                    continue
                certificate = CommitCertificate.from_precommits(log.precommits_for(value_id))
                self._decide(round_, value, certificate)
                return True
        return False

    def _decide(self, round_: int, value: bytes, certificate: CommitCertificate) -> None:
        self._decided = True
        self._out.append(Commit(self.height, round_, value, certificate))

    def _try_round_skip(self, dirty: set[int]) -> bool:
        """Lines 55-56: f+1 validators already in a higher round pull us there."""
        assert self.validators is not None
        ahead = [r for r in dirty if r > self.round and r in self._rounds
                 and len(self._rounds[r].senders) >= self.validators.skip_threshold]
        if not ahead:
            return False
        self._start_round(max(ahead))
        return True

    def _current_round_rule(self) -> bool:
        """Fire at most one enabled rule of the current round; True if one fired."""
        assert self.validators is not None
        quorum = self.validators.quorum
        log = self._log(self.round)
        if self.step is Step.PROPOSE:
            if self._on_proposal_in_propose_step(log, quorum):
                return True
            if self._propose_timed_out == self.round and not self._validating(self.round):  # lines 57-60
                # A proposal that arrived before the timeout is judged first, whenever its validation
                # answers: in the paper valid(v) is instantaneous, so line 22 or 28 fires before 57.
                # With ~16 MB blocks on a loaded host validation can outlast the timeout, and every
                # validator prevoted nil on a good block it had already received.
                self._prevote(None)
                return True
        elif self._on_votes_after_propose_step(log, quorum):
            return True
        if (47, self.round) not in self._fired and log.precommits.total() >= quorum:  # lines 47-48, any step
            self._fired.add((47, self.round))
            self._schedule(Step.PRECOMMIT)
            return True
        return False

    def _on_votes_after_propose_step(self, log: RoundLog, quorum: int) -> bool:
        """Lines 34-46: react to prevotes of the current round once we have prevoted (or given up)."""
        if self.step is Step.PREVOTE and (34, self.round) not in self._fired and log.prevotes.total() >= quorum:
            self._fired.add((34, self.round))  # lines 34-35
            self._schedule(Step.PREVOTE)
            return True
        if (36, self.round) not in self._fired:  # lines 36-43
            for value_id in log.proposals:
                if log.prevotes.count(value_id) >= quorum and self._validity.get(value_id) is True:
                    self._fired.add((36, self.round))
                    # Lines 42-43 before 40, so the record persisted with the precommit is consistent.
                    self._valid_value_id, self.valid_round = value_id, self.round
                    if self.step is Step.PREVOTE:
                        self.locked_value_id, self.locked_round = value_id, self.round
                        self._precommit(value_id)
                    return True
        if self.step is Step.PREVOTE and log.prevotes.count(None) >= quorum:  # lines 44-46
            self._precommit(None)
            return True
        return False

    def _on_proposal_in_propose_step(self, log: RoundLog, quorum: int) -> bool:
        """Lines 22-33: prevote the round's proposal, or nil if it is invalid or conflicts with our lock."""
        for value_id, proposal in log.proposals.items():
            validity = self._validity.get(value_id)
            vr = proposal.valid_round
            if vr == -1:  # lines 22-27
                if validity is None:
                    continue
                acceptable = self.locked_round == -1 or self.locked_value_id == value_id
            elif vr < self.round and self._polka(vr, value_id, quorum):  # lines 28-33
                if validity is None:
                    continue
                acceptable = self.locked_round <= vr or self.locked_value_id == value_id
            else:
                continue
            self._prevote(value_id if validity and acceptable else None)
            return True
        return False

    def _validating(self, round_: int) -> bool:
        """A proposal of ``round_`` is received and its ValidateValue not yet answered."""
        return any(value_id not in self._validity for value_id in self._log(round_).proposals)

    def _polka(self, round_: int, value_id: bytes, quorum: int) -> bool:
        log = self._rounds.get(round_)
        return log is not None and log.prevotes.count(value_id) >= quorum

    def _on_decision_received(self, event: DecisionReceived) -> None:
        certificate = event.certificate
        if self.validators is None or certificate.height != self.height or self._decided:
            self.counters.stale_events += 1
            return
        if hash_bytes(event.value) != certificate.value_id:
            self.counters.bad_decisions += 1
            return
        try:
            certificate.verify(self.chain_id, self.validators, self._verify)
        except InvalidCertificate:
            self.counters.bad_decisions += 1
            return
        self._decide(certificate.round, event.value, certificate)


def _size(message: SignedMessage) -> int:
    """What keeping a message costs, roughly: its value plus ~160 bytes of fields and object."""
    return 160 + len(message.value) if isinstance(message, Proposal) else _size_of_vote()


def _size_of_vote() -> int:
    return 160
