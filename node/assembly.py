"""The composition root: builds one node from the wings, wires them, owns the commit fan-out, runs it.

``Node`` holds what the wings share (ledger, mempool, admission, statuses, metrics, the ledger worker
thread) and hands each collaborator exactly the part it uses (typed as a Protocol in the collaborator's
module); ``Node.connect`` builds the network, the consensus driver on a validator, and the faults seam
when ``[testing]`` asks for it. Every commit, whether decided by consensus or applied by block sync,
goes through ``Node.committed``, which tells everyone in one order: mempool, journal, metrics, status
subscribers, block listeners, the network (head announcement, peer set), the driver (after a sync).
``serve`` runs one node until SIGINT/SIGTERM. LevelDB work (execution, synced commits, safety records)
runs on one worker thread so the API and the network stay responsive during a commit; only that thread
mutates the ledger.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import gc
import logging
import os
import shutil
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import plyvel
from grpc import aio

from consensus import codec
from consensus.certificate import CommitCertificate
from consensus.codec import CodecError
from consensus.crypto import KeyPair
from consensus.engine import Engine
from consensus.messages import SignedMessage, encode_message
from consensus.safety import SafetyRecord
from consensus.timeouts import TimeoutConfig
from node import packing
from node.api.app import build_app
from node.api.listener import api_runner, listen
from node.api.query_replay import AnsweredQueries
from node.api.torii.server import start_torii, stop_torii
from node.clock import now_ms
from node.config import ConfigError, NodeConfig
from node.intake.admission import Admission, IntakeCounters
from node.intake.journal import IntakeJournal
from node.intake.mempool import Mempool
from node.intake.pending import PendingPool, restore_pending
from node.intake.statuses import StatusHub, status_json
from node.keyfile import KeyFileError, passphrase_from, read_key
from node.ledger.blocks import Block
from node.ledger.chain import BlockExecution, Ledger
from node.ledger.genesis import GenesisError, load_genesis
from node.ledger.peers import peers_in_state
from node.ledger.queries import QueryService
from node.ledger.statuses import TxStatus
from node.metrics import NodeMetrics
from node.p2p.network import P2PNetwork
from node.runtime.driver import ConsensusDriver, Send
from node.runtime.faults import Faults
from node.runtime.health import Check, HealthLog, Vitals, readiness
from node.runtime.safety_store import SafetyFile, ValueStash
from node.runtime.signing_guard import SigningGuard
from node.version import VERSION
from storage.db import CorruptHead, LedgerStore, StorageError

log = logging.getLogger("bakong.node")
PID_FILE = "node.pid"


class Node:
    """Everything one node holds; built once per process (and by tests that want a node without peers)."""

    def __init__(self, config: NodeConfig, accept_restored_safety: bool = False) -> None:
        """``accept_restored_safety``: the operator says no other process holds this validator's key
        (``bakong node --accept-restored-safety``; ``node.runtime.signing_guard``)."""
        self.config = config
        self.accept_restored_safety = accept_restored_safety
        # the key file may be encrypted: its passphrase from BAKONG_KEY_PASSPHRASE or key_passphrase_file
        self.key: KeyPair = read_key(config.key_path, passphrase_from(config.key_passphrase_file))
        self.genesis = load_genesis(config.genesis_path)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = LedgerStore(config.data_dir / "ledger")
        try:
            self.ledger = Ledger(self.store, self.genesis.chain_id)
            self.ledger.ensure_genesis(self.genesis)
            check_head(self.ledger)
        except Exception:
            self.store.close()
            raise
        self.safety = SafetyFile(config.data_dir / "consensus")
        self.safety_values = ValueStash(config.data_dir / "consensus" / "values")
        self.mempool = Mempool(config.mempool.max_txs, config.mempool.max_bytes, config.mempool.max_per_account)
        self.hub = StatusHub()
        self.metrics = NodeMetrics()
        m = self.metrics
        self.admission = Admission(self.ledger, self.mempool, self.genesis.chain_id,
                                   IntakeCounters(received=m.txs_received.inc,
                                                  refused=lambda code: m.txs_refused.labels(code).inc(),
                                                  bad_from_peer=m.p2p_bad_messages.inc, pool_full=self._pool_full),
                                   remember_failure=self.hub.record_failure,
                                   pending=PendingPool(self.store, max_txs=config.mempool.pending_max_txs,
                                                       max_bytes=config.mempool.pending_max_bytes,
                                                       max_per_account=config.mempool.pending_max_per_account,
                                                       expiry_ms=config.mempool.pending_expiry_minutes * 60_000))
        self.pending = self.admission.pending
        self.journal = IntakeJournal(self.store)
        self.journal.restore(self.admission, now_ms())
        restore_pending(self.admission, now_ms())
        self.queries = QueryService(self.ledger, self.mempool.pending_for)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        # Signed queries read LevelDB and decode stored transactions (a page of history can be 1,000 of
        # them): answered here, off the event loop that carries consensus, gossip and the API. Two
        # threads, apart from the default executor that journals accepted transactions.
        self.query_worker = ThreadPoolExecutor(max_workers=2, thread_name_prefix="query")
        self.answered_queries = AnsweredQueries()  # a captured signed query cannot be asked again
        self.tx_arrived = asyncio.Event()
        self.started_ms = now_ms()
        self.network: P2PNetwork | None = None  # once connected (``connect``)
        self.driver: ConsensusDriver | None = None  # on a validator, once connected
        self.faults: Faults | None = None  # only when [testing] asks for it
        self.block_listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self.metrics.height.set(self.ledger.head.height)
        self._wire_metrics()
        self.signing_guard: SigningGuard | None = None  # on a validator, once connected
        self.storage_error: str | None = None  # the last failed write of accepted transactions, until one succeeds
        self.last_commit_s = time.monotonic()  # this node's last commit (or its start): the "commits" check
        head_block = self.ledger.block(self.ledger.head.height)
        self.last_block_ms = head_block.header.created_ms if head_block is not None else 0
        self.health_log = HealthLog(config.log.progress_interval_s)
        self._pool_full_logged = 0.0

    @property
    def chain_id(self) -> str:
        return self.genesis.chain_id

    def _record_height(self) -> int:
        """The height of the last message the safety record holds (-1: none, or unreadable, which
        ``check_safety_record`` refuses before the node serves)."""
        raw = self.safety.load()
        if raw is None:
            return -1
        try:
            return SafetyRecord.decode(raw, max_bytes=len(raw)).height
        except CodecError:
            return -1

    def _pool_full(self) -> None:
        self.metrics.mempool_full.inc()
        now = time.monotonic()
        if now - self._pool_full_logged >= 10:  # a flood of refusals is one line per 10 s, not one per request
            self._pool_full_logged = now
            log.warning("mempool full (%d transactions, %d bytes): refusing submissions with 503 until blocks "
                        "drain it", len(self.mempool), self.mempool.size_bytes)

    def clock_ms(self) -> int:
        return now_ms()

    # ---- wiring ----

    def connect(self) -> P2PNetwork:
        """Build the network, the driver (validators) and the faults seam; call on the running loop."""
        config = self.config
        network = P2PNetwork(self, (config.p2p_host, config.p2p_port), self.committed,
                             pending_regossip_s=config.mempool.pending_regossip_seconds)
        testing = config.testing
        if testing.byzantine or testing.fault_injection:
            self.faults = Faults(testing, self, network)
        if config.role == "validator":
            honest = _broadcaster(network)
            if not (testing.byzantine or testing.twin):  # test devices that sign around the guard on purpose
                guard = SigningGuard(self.key.public_key, self._record_height(), self.accept_restored_safety)
                self.signing_guard = guard
                honest = _watched(honest, guard)
            send = self.faults.consensus_send(honest) if self.faults is not None else honest
            c = config.consensus
            propose = c.propose_timeout_ms or config.block.max_block_interval_ms + 1000
            delta = c.timeout_delta_ms / 1000
            timeouts = TimeoutConfig(propose / 1000, delta, c.prevote_timeout_ms / 1000, delta,
                                     c.precommit_timeout_ms / 1000, delta)
            self.driver = ConsensusDriver(self, send, lambda block, execution: self.committed(block, execution, False),
                                          timeouts, config.block, may_sign=True)
            network.consensus = self.driver
        self.network = network
        self.metrics.watch_network(self.key.public_key, network.transport.connected, self._sync_lag)
        return network

    # ---- the commit fan-out ----

    def committed(self, block: Block, execution: BlockExecution, synced: bool) -> None:
        """Event loop, after a block is durably committed (by consensus or by block sync)."""
        hashes = [tx.hash for tx in block.transactions]
        self.last_commit_s = time.monotonic()
        self.last_block_ms = block.header.created_ms
        self._check_own_signatures(block.height)
        self.mempool.committed(block.transactions)
        self.journal.settled(hashes)
        if self.pending is not None:
            self.pending.settled(hashes)  # a complete copy reached a block through another node
            for tx in self.pending.expire(block.header.created_ms):  # the chain's time: alike on every node
                expired = status_json(tx.hash, TxStatus.MST_EXPIRED)
                self.hub.record_failure(tx.hash, expired)
                self.hub.publish(tx.hash, expired)
        m = self.metrics
        m.blocks.inc()
        m.height.set(block.height)
        self._observe_block(block, execution)
        rejected = Counter(r.error_code or "unknown" for r in execution.results if r.status != TxStatus.COMMITTED)
        m.txs_committed.inc(len(execution.results) - sum(rejected.values()))  # one locked update per block
        for code, count in rejected.items():
            m.txs_rejected.labels(code).inc(count)
        for index in self.hub.watched(hashes):
            result = execution.results[index]
            self.hub.publish(hashes[index], status_json(hashes[index], result.status, block.height, index, result))
        if self.block_listeners:
            summary = {"height": block.height, "hash": block.hash.hex(), "created_ms": block.header.created_ms,
                       "committed_ms": now_ms(), "state_root": block.header.state_root.hex(),
                       "txs": [tx.hash.hex() for tx in block.transactions],
                       "rejected": [h.hex() for h in block.header.rejected]}
            for queue in list(self.block_listeners):
                if queue.qsize() < 1000:  # a stalled reader loses blocks rather than our memory
                    queue.put_nowait(summary)
        if self.network is not None:
            self.network.block_committed(execution.peers_touched)
        if synced and self.driver is not None:
            self.driver.committed_by_sync()

    def _check_own_signatures(self, height: int) -> None:
        """Hand the block's certificate to the signing guard; stop the driver signing when it halts."""
        guard = self.signing_guard
        if guard is None or guard.halt is not None:
            return
        raw = self.ledger.certificate(height)
        if raw is None:
            return
        if guard.check(CommitCertificate.decode(raw)) is not None and self.driver is not None:
            self.driver.stop_signing()

    # ---- health (node.runtime.health) ----

    def vitals(self) -> Vitals:
        network = self.network
        validators = network.validator_keys if network is not None else set()
        own = self.key.public_key
        votes = self.driver is not None and self.driver.signing
        reachable = len(network.connected_validators()) if network is not None else 0
        try:
            free = shutil.disk_usage(self.config.data_dir).free
        except OSError:
            free = 0
        guard = self.signing_guard
        return Vitals(
            now_s=time.monotonic(), last_commit_s=self.last_commit_s,
            block_interval_s=self.config.block.max_block_interval_ms / 1000, height=self.ledger.head.height,
            pending=len(self.mempool), best_known_height=network.sync.best_known_height if network is not None else 0,
            validators=len(validators), reachable_validators=reachable + (1 if votes else 0),
            configured_validator=self.config.role == "validator", in_validator_set=own in validators,
            signing_halt=f"{guard.halt.code}: {guard.halt.message}" if guard is not None and guard.halt else None,
            storage_error=self.storage_error, free_bytes=free)

    def health_checks(self) -> list[Check]:
        return readiness(self.vitals(), self.config.health)

    def storage_written(self, error: str | None) -> None:
        """The API's journal write of accepted transactions failed (``error``) or succeeded (None)."""
        if error is not None and self.storage_error is None:
            log.error("storage: writing accepted transactions failed: %s", error)
        self.storage_error = error

    def chain_role(self) -> str:
        """This node as the chain's peer set names it: validator, observer, or not_a_peer."""
        own = self.key.public_key
        for peer in peers_in_state(self.store):
            if peer.public_key == own:
                return "observer" if peer.observer else "validator"
        return "not_a_peer"

    def signing_status(self) -> dict[str, Any] | None:
        guard = self.signing_guard
        if guard is None:
            return None
        halt = guard.halt
        return {"allowed": halt is None, "code": halt.code if halt else None, "reason": halt.message if halt else None,
                "accepted_restored": guard.accepted_foreign}

    # ---- what the metrics read (node.metrics) ----

    def _wire_metrics(self) -> None:
        """Describe this node to the metrics, hand them what they read at scrape time, and the head the
        next block's interval is measured from."""
        m, config = self.metrics, self.config
        m.describe_node(self.chain_id, config.name, config.role, config.block.max_block_interval_ms)
        m.watch_mempool(self.mempool.__len__, lambda: self.mempool.size_bytes, config.mempool.max_txs,
                        config.mempool.max_bytes)
        m.set_validators(self._validator_names())
        head = self.ledger.block(self.ledger.head.height)
        if head is not None:
            m.chain_at(head.header.created_ms)

    def _observe_block(self, block: Block, execution: BlockExecution) -> None:
        """Per committed block: its interval, and the round and signers its certificate shows (one read
        and decode per block), then the validator set it leaves for the next height."""
        raw = self.ledger.certificate(block.height)
        certificate = CommitCertificate.decode(raw) if raw else None
        self.metrics.block_committed(block.header.created_ms, certificate.round if certificate else None,
                                     {key for key, _sig in certificate.signatures} if certificate else ())
        if execution.peers_touched:
            self.metrics.set_validators(self._validator_names())

    def _validator_names(self) -> dict[bytes, str]:
        return {p.public_key: p.name for p in peers_in_state(self.store.published()) if not p.observer}

    def _sync_lag(self) -> int:
        best = self.network.sync.best_known_height if self.network is not None else 0
        return max(0, best - self.ledger.head.height)

    # ---- what the API shows and asks of the network (node.api.app.ApiHost) ----

    def gossip(self, tx_bytes: bytes) -> None:
        if self.network is not None:
            self.network.gossip.enqueue(tx_bytes)

    def peers_status(self) -> list[dict[str, Any]]:
        connected = self.network.transport.connected() if self.network is not None else set()
        me = self.key.public_key
        return [{"name": p.name, "public_key": p.public_key.hex(), "address": p.address,
                 "role": "observer" if p.observer else "validator",
                 "connected": p.public_key in connected, "self": p.public_key == me}
                for p in peers_in_state(self.store)]

    def p2p_status(self) -> dict[str, Any] | None:
        return dataclasses.asdict(self.network.transport.counters) if self.network is not None else None

    def sync_status(self) -> dict[str, Any] | None:
        """The highest head a peer in good standing claims, and whether we are more than a block behind it
        (a claim: a liar can inflate it, which block sync's peer policy contains)."""
        if self.network is None:
            return None
        best = self.network.sync.best_known_height
        return {"best_known_height": best, "catching_up": best > self.ledger.head.height + 1}

    def consensus_status(self) -> dict[str, Any] | None:
        driver = self.driver
        if driver is None:
            return None
        engine = driver.engine
        return {"height": engine.height, "round": engine.round, "step": engine.step.name.lower(),
                "voting": engine.key is not None, "evidence": driver.evidence_count,
                "dropped": {k: v for k, v in engine.counters.as_dict().items()
                            if v and k not in ("accepted", "waited_for_validation")},
                "waited_for_validation": engine.counters.waited_for_validation}

    def close(self) -> None:
        self.query_worker.shutdown(wait=True, cancel_futures=True)
        self.worker.shutdown(wait=True)
        self.safety.close()
        self.store.close()


def _watched(send: Send, guard: SigningGuard) -> Send:
    """``send``, telling the signing guard first what this process signed."""
    def watched(message: SignedMessage, engine: Engine) -> Any:
        guard.signed(message)
        return send(message, engine)
    return watched


def _broadcaster(network: P2PNetwork) -> Send:
    """The honest outbox: every own consensus message to every connected validator."""
    def send(message: SignedMessage, engine: Engine) -> None:
        network.broadcast_consensus(encode_message(message))
    return send


def check_head(ledger: Ledger) -> None:
    """Refuse a head record of the right shape that does not name the stored block it claims (a
    damaged or partly copied database): serving from it would fail later, mid-consensus."""
    head = ledger.head
    block = ledger.block(head.height)
    if block is None or block.hash != head.block_hash or block.header.state_root != head.state_root:
        raise CorruptHead(f"the head record names block {head.height}, which is missing or differs; "
                          "the database cannot be trusted")


def tune_garbage_collector() -> None:
    """Collect cycles less often than CPython's default (every 700 net allocations).

    A loaded node allocates a few dozen short-lived containers per transaction (decoding, asyncio,
    aiohttp) while holding a large, long-lived heap (mempool, caches, verified-signature memory, code).
    With the default thresholds the cycle collector ran every ~30 transactions and its older
    generations rescanned that heap: ~30% on top of decoding in a measurement with a 1M-object heap
    (20.5 vs 14.2 us per transaction). Reference counting still frees almost everything at once; only
    cyclic garbage waits longer. What exists at start-up (modules, genesis) is frozen out of the scans."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


# How a node process ends on an error (issue 14, finding 12: every crash printed "ExceptionGroup:
# unhandled errors in a TaskGroup"). One exit status per class of cause, sysexits.h numbers so that a
# supervisor can tell them apart; docs/reliability.md lists them.
EXIT_SAFETY_RECORD = 65  # EX_DATAERR: the validator's safety record cannot be read back
EXIT_NETWORK = 69  # EX_UNAVAILABLE: an address to listen on is taken or not ours
EXIT_INTERNAL = 70  # EX_SOFTWARE: our own bug
EXIT_STORAGE = 74  # EX_IOERR: the database or the data directory (disk full, read-only, damaged, locked)
EXIT_CONFIG = 78  # EX_CONFIG: config, key file or genesis unusable
_NETWORK_ERRNOS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL})


class SafetyRecordUnreadable(Exception):
    """The validator's safety record is there but does not decode: signing without it could sign twice."""

    code = "safety_record_unreadable"


class NodeFailure(Exception):
    """Why a node process stopped: ``code`` and ``message`` name the cause (one line), ``exit_code`` its
    class; ``cause`` is the exception itself (unwrapped from any exception group)."""

    def __init__(self, code: str, message: str, exit_code: int, cause: BaseException) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.exit_code, self.cause = code, message, exit_code, cause


def root_causes(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, without the cancellations they caused."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in root_causes(inner)]
    return [] if isinstance(exc, asyncio.CancelledError) else [exc]


def node_failure(exc: BaseException) -> NodeFailure:
    """Classify what stopped a node. A typed refusal keeps its own code; other causes are named by kind
    and exception class (``storage_error: OSError: [Errno 28] No space left on device``)."""
    if isinstance(exc, NodeFailure):
        return exc
    causes = root_causes(exc) or [exc]
    cause = causes[0]
    if isinstance(cause, SafetyRecordUnreadable):
        kind, status = "safety_record_unreadable", EXIT_SAFETY_RECORD
    elif isinstance(cause, (ConfigError, KeyFileError, GenesisError)):
        kind, status = "config_error", EXIT_CONFIG
    elif isinstance(cause, OSError) and cause.errno in _NETWORK_ERRNOS:
        kind, status = "address_unavailable", EXIT_NETWORK
    elif isinstance(cause, (StorageError, plyvel.Error, OSError)):
        kind, status = "storage_error", EXIT_STORAGE
    else:
        kind, status = "internal_error", EXIT_INTERNAL
    own_code = getattr(cause, "code", None)
    if isinstance(own_code, str) and own_code:
        code, message = own_code, getattr(cause, "message", None) or str(cause)
    else:
        code, message = kind, f"{cause.__class__.__name__}: {cause}"
    if status == EXIT_INTERNAL:
        message += " (a bug: the traceback is in the node log)"
    return NodeFailure(code, str(message).replace("\n", " "), status, cause)


def _log_failure(exc: BaseException, failure: NodeFailure) -> None:
    """The node log gets every cause with its traceback, except a start-up refusal that its one line
    explains whole (a typed storage, config, key or genesis error raised before serving)."""
    causes = root_causes(exc) or [exc]
    explained = (StorageError, ConfigError, KeyFileError, GenesisError)
    if len(causes) == 1 and causes[0] is exc and isinstance(exc, explained):
        return
    for cause in causes:
        log.error("node stopped (exit %d): %s: %s", failure.exit_code, cause.__class__.__name__, cause,
                  exc_info=(type(cause), cause, cause.__traceback__))


def check_safety_record(node: Node) -> None:
    """Refuse to start a validator whose safety record does not decode, before it serves (not mid-round,
    as an exception inside the driver's task group)."""
    if node.config.role != "validator":
        return
    raw = node.safety.load()
    if raw is None:
        return
    try:
        SafetyRecord.decode(raw, max_bytes=len(raw))  # as the driver reads it: our own checksummed file
    except codec.CodecError as exc:
        raise SafetyRecordUnreadable(
            f"the safety record in {node.config.data_dir / 'consensus'} does not decode ({exc}); "
            "restoring it (not deleting it) keeps this validator from signing twice") from exc


def announce_role(node: Node) -> None:
    """Say at start what the chain makes of this node, when it is not what the config says."""
    role = node.chain_role()
    if node.config.role == "validator" and role != "validator":
        log.error("configured as a validator, but the chain names key %s %s at height %d: this node follows "
                  "without voting until a block adds it to the validator set (check key_file and genesis)",
                  node.key.public_key.hex()[:16], "an observer" if role == "observer" else "nowhere in its peer set",
                  node.ledger.head.height)
    if node.accept_restored_safety:
        log.warning("started with --accept-restored-safety: this validator's own earlier signatures found while "
                    "catching up are accepted, on the operator's word that no other process holds its key")


HEALTH_PERIOD_S = 0.5


async def watch_health(node: Node) -> None:
    """Evaluate readiness twice a second and log what changed (``node.runtime.health.HealthLog``)."""
    while True:
        await asyncio.sleep(HEALTH_PERIOD_S)
        vitals = node.vitals()
        node.health_log.observe(readiness(vitals, node.config.health), vitals)


def run_node(config: NodeConfig, accept_restored_safety: bool = False) -> None:
    """Run one node process on uvloop when it is installed (the event loop carries every peer link and
    API request; uvloop does that work in C), else on asyncio's own loop. ``BAKONG_EVENT_LOOP=asyncio``
    forces the latter, to compare or to rule the loop out when debugging.

    Any error that stops it is raised as one :class:`NodeFailure` (exception groups unwrapped), after
    its cause and traceback are logged."""
    try:
        _run_node(config, accept_restored_safety)
    except Exception as exc:  # noqa: BLE001 - classified, logged and re-raised as one NodeFailure
        failure = node_failure(exc)
        _log_failure(exc, failure)
        raise failure from failure.cause


def _run_node(config: NodeConfig, accept_restored_safety: bool) -> None:
    packing.install()
    loop_factory = None
    if os.environ.get("BAKONG_EVENT_LOOP", "uvloop") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(config, accept_restored_safety))


async def serve(config: NodeConfig, accept_restored_safety: bool = False) -> None:
    """Run one node until SIGINT/SIGTERM."""
    node = Node(config, accept_restored_safety)
    try:
        check_safety_record(node)
    except BaseException:
        node.close()
        raise
    tune_garbage_collector()
    # Holding the LevelDB lock, this is the one process of this data dir: record its pid there, so tools
    # (``bakong testnet down``) find a node however it was started, even by a hand-run restart command.
    pid_file = config.data_dir / PID_FILE
    pid_file.write_text(f"{os.getpid()}\n")
    runner = api_runner(build_app(node), config.api, access_log=config.log.access_log)
    api_server: asyncio.Server | None = None
    torii: aio.Server | None = None  # the Torii gRPC server, when [torii] listen names an address
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    network = node.connect()
    try:
        await runner.setup()
        api_server = await listen(runner, config.api,
                                  lambda reason: node.metrics.api_connections_refused.labels(reason).inc())
        if config.torii.enabled:
            torii = await start_torii(node)  # a taken port: ToriiBindError, exit 69 like the API's
        await network.start()
        scheme = "https" if config.api.tls_cert is not None else "http"
        log.info("node %s (%s, bakong %s) serving API on %s://%s:%d, p2p on %s:%d, height %d, event loop %s",
                 config.name, config.role, VERSION, scheme, config.api.host, config.api.port, config.p2p_host,
                 config.p2p_port, node.ledger.head.height, type(loop).__module__.split(".")[0])
        announce_role(node)
        async with asyncio.TaskGroup() as tasks:
            running = [tasks.create_task(network.run()), tasks.create_task(watch_health(node))]
            if node.driver is not None:
                running.append(tasks.create_task(node.driver.run()))
            await stop.wait()
            for task in running:
                task.cancel()
    finally:
        await network.close()
        if torii is not None:
            await stop_torii(torii)
        if api_server is not None:
            api_server.close()
        await runner.cleanup()
        node.close()
        pid_file.unlink(missing_ok=True)
        log.info("node %s stopped", config.name)
