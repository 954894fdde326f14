"""Node configuration: a TOML file checked against a strict schema (``SCHEMA``).

Every key of every section is declared once below with its type, default and description; the
reference ``docs/configuration.md`` is generated from the same declarations (``node.config_reference``)
and a test keeps it current. An unknown section or key, or a value of the wrong type, is refused with a
one-line ``ConfigError`` naming the file, the dotted key and what is expected: a typo must stop the node,
not start it on defaults (issue 16: ``[p2p] lisen`` used to come up on the default port).

Relative paths in a config file are relative to the file's own directory, so a testnet directory can
be moved as a whole. Secrets never sit in the file itself: the operator token comes from
``[api] operator_token_file`` or the environment variable ``BAKONG_OPERATOR_TOKEN`` (which wins), the
key passphrase from ``key_passphrase_file`` or ``BAKONG_KEY_PASSPHRASE`` (read by ``node.keyfile``).
"""

from __future__ import annotations

import difflib
import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    code = "bad_config"


OPERATOR_TOKEN_ENV = "BAKONG_OPERATOR_TOKEN"
KEY_PASSPHRASE_ENV = "BAKONG_KEY_PASSPHRASE"
MIN_OPERATOR_TOKEN = 16
"""Characters: a shorter token is guessable over the network."""


@dataclass(frozen=True)
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = 8100
    max_body_bytes: int = 8 * 1024 * 1024
    max_batch: int = 5000
    max_websockets: int = 1000
    max_connections: int = 2000
    max_connections_per_client: int = 256
    header_timeout_ms: int = 10_000
    keepalive_timeout_ms: int = 30_000
    max_websockets_per_client: int = 100
    tls_cert: Path | None = None
    tls_key: Path | None = None
    operator_loopback: bool = True
    operator_token: str | None = field(default=None, repr=False)
    """A secret: kept out of ``repr`` so that logging a config never logs it."""


@dataclass(frozen=True)
class BlockConfig:
    max_block_interval_ms: int = 2000
    batch_wait_ms: int = 50
    max_block_txs: int = 5000


@dataclass(frozen=True)
class ConsensusConfig:
    """Timeouts of the BFT rounds (ms). The propose timeout defaults to the heartbeat interval + 1 s:
    an idle proposer waits up to ``max_block_interval_ms`` for transactions before proposing an empty
    block, and the others must not give up on it before that."""

    propose_timeout_ms: int = 0
    prevote_timeout_ms: int = 1000
    precommit_timeout_ms: int = 1000
    timeout_delta_ms: int = 500


@dataclass(frozen=True)
class TestingConfig:
    """Test-only behaviour, never on by default (``node.runtime.byzantine`` describes each mode)."""

    byzantine: str = ""
    fault_injection: bool = False
    twin: bool = False


BYZANTINE_MODES = ("", "double_vote", "equivocate", "multi_vote", "resign", "lying_head", "oversized",
                   "future_flood", "withhold", "amnesia", "mixed")
"""Values of ``[testing] byzantine`` (``node.byzantine.MODES`` is checked to be the same tuple)."""


@dataclass(frozen=True)
class MempoolConfig:
    max_txs: int = 100_000
    max_bytes: int = 64 * 1024 * 1024
    max_per_account: int = 2_000
    pending_max_txs: int = 10_000
    pending_max_bytes: int = 64 * 1024 * 1024
    pending_max_per_account: int = 100
    pending_expiry_minutes: int = 1_440
    pending_regossip_seconds: int = 30


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"
    format: str = "text"
    access_log: bool = False
    progress_interval_s: int = 10


@dataclass(frozen=True)
class HealthConfig:
    stall_intervals: int = 3
    behind_blocks: int = 10


@dataclass(frozen=True)
class OpenApiConfig:
    rate_per_s: int = 20
    burst: int = 40


@dataclass(frozen=True)
class ToriiConfig:
    """Iroha 1's gRPC API (``node.api.torii``); ``enabled`` is false when ``[torii] listen = ""``."""

    host: str = "127.0.0.1"
    port: int = 50051
    enabled: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_streams: int = 1000
    max_streams_per_client: int = 100
    not_received_ms: int = 10_000
    max_calls: int = 2_000
    max_calls_per_connection: int = 200


@dataclass(frozen=True)
class NodeConfig:
    name: str
    role: str
    genesis_path: Path
    key_path: Path
    data_dir: Path
    api: ApiConfig = field(default_factory=ApiConfig)
    p2p_host: str = "127.0.0.1"
    p2p_port: int = 7100
    block: BlockConfig = field(default_factory=BlockConfig)
    mempool: MempoolConfig = field(default_factory=MempoolConfig)
    consensus: ConsensusConfig = field(default_factory=ConsensusConfig)
    testing: TestingConfig = field(default_factory=TestingConfig)
    source: Path | None = None
    log: LogConfig = field(default_factory=LogConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    open_api: OpenApiConfig = field(default_factory=OpenApiConfig)
    key_passphrase_file: Path | None = None
    torii: ToriiConfig = field(default_factory=ToriiConfig)


# ---- the schema: what a config file may hold ----

@dataclass(frozen=True)
class Kind:
    """A value's type as TOML writes it, what it must be in words (for errors and the reference), and
    the check."""

    toml: str
    expected: str
    ok: Callable[[Any], bool]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # TOML's true is not 1


def _is_address(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    host, colon, port = v.rpartition(":")
    return bool(colon and host) and port.isdigit() and 0 < int(port) < 65536


def _one_of(values: tuple[str, ...]) -> Kind:
    return Kind("string", "one of " + ", ".join(f'"{v}"' for v in values), lambda v: v in values)


POSITIVE = Kind("integer", "a positive integer", lambda v: _is_int(v) and v > 0)
NON_NEGATIVE = Kind("integer", "an integer >= 0", lambda v: _is_int(v) and v >= 0)
BOOLEAN = Kind("boolean", "true or false", lambda v: isinstance(v, bool))
TEXT = Kind("string", "a non-empty string", lambda v: isinstance(v, str) and v != "")
PATH = Kind("string", "a path (relative to the config file's directory)", lambda v: isinstance(v, str) and v != "")
OPTIONAL_PATH = Kind("string", 'a path (relative to the config file\'s directory), or "" for none',
                     lambda v: isinstance(v, str))
ADDRESS = Kind("string", '"host:port" with a port from 1 to 65535', _is_address)
OPTIONAL_ADDRESS = Kind("string", '"host:port" with a port from 1 to 65535, or "" for none',
                        lambda v: v == "" or _is_address(v))

REQUIRED: Any = object()
"""Default of a key the file must give."""
_FROM_CLASS: Any = object()


@dataclass(frozen=True)
class Key:
    name: str
    kind: Kind
    doc: str
    default: Any = _FROM_CLASS
    """The value when the file leaves the key out; by default the field of the section's dataclass
    with the same name, so the two cannot drift apart."""


@dataclass(frozen=True)
class Section:
    name: str
    """"" for the top-level keys."""
    doc: str
    keys: tuple[Key, ...]
    cls: type[Any] | None = None

    def default(self, key: Key) -> Any:
        if key.default is not _FROM_CLASS:
            return key.default
        assert self.cls is not None, f"{self.name}.{key.name} needs an explicit default"
        return self.cls.__dataclass_fields__[key.name].default

    def key(self, name: str) -> Key | None:
        return next((k for k in self.keys if k.name == name), None)

    def dotted(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key


SCHEMA: tuple[Section, ...] = (
    Section("", "Top-level keys: who this node is and where its files are.", (
        Key("name", TEXT, "This node's name in the genesis peer list.", REQUIRED),
        Key("role", _one_of(("validator", "observer")),
            "A validator signs blocks (its key must be in the genesis validator set); an observer follows the "
            "chain and serves the API.", "validator"),
        Key("genesis", PATH, "The network's genesis file (the same file on every node).", REQUIRED),
        Key("key_file", PATH, "This node's signing key (`bakong keygen --out`).", REQUIRED),
        Key("key_passphrase_file", OPTIONAL_PATH,
            f"File holding the passphrase of an encrypted `key_file`; `{KEY_PASSPHRASE_ENV}`, when set, is "
            'used instead. "" for none.', ""),
        Key("data_dir", PATH, "The node's ledger store and consensus safety record; created if missing.",
            REQUIRED),
    )),
    Section("api", "The HTTP API (clients, operators, monitoring).", (
        Key("listen", ADDRESS, "Address the API listens on; keep it on loopback unless a reverse proxy or TLS "
            "fronts it.", "127.0.0.1:8100"),
        Key("max_body_bytes", POSITIVE, "Largest request body; past it: 413."),
        Key("max_batch", POSITIVE, "Transactions per submit request; past it: 413 batch_too_large."),
        Key("max_websockets", POSITIVE,
            "Concurrent status and block streams; past it: 503 too_many_subscribers."),
        Key("max_websockets_per_client", POSITIVE,
            "Streams from one source address (its share of `max_websockets`)."),
        Key("max_connections", POSITIVE, "Open HTTP connections at once; past it a new one gets 503 "
            "too_many_connections and is closed."),
        Key("max_connections_per_client", POSITIVE,
            "Open HTTP connections from one source address (its share of `max_connections`). Behind a reverse "
            "proxy every client has the proxy's address: raise it to `max_connections` there and let the proxy "
            "hold the per-client shares."),
        Key("header_timeout_ms", POSITIVE,
            "A new connection's first request head must arrive within this of the accept, or it is closed."),
        Key("keepalive_timeout_ms", POSITIVE,
            "After an answer, the next request head must arrive within this, or the connection is closed."),
        Key("tls_cert", OPTIONAL_PATH, 'PEM certificate (chain) for HTTPS on `listen`; give `tls_key` too. "" '
            "(with `tls_key = \"\"`) serves plain HTTP.", ""),
        Key("tls_key", OPTIONAL_PATH, 'PEM private key of `tls_cert`. "" for none.', ""),
        Key("operator_loopback", BOOLEAN,
            "Operator routes (`/metrics`, `/v1/status`, `/v1/evidence`, `/v1/blocks/ws`, `/v1/admin/...`) are "
            "served to clients on loopback without a token; others need `Authorization: Bearer <operator token>`. "
            "Set false when a reverse proxy on this host forwards customers' requests (they would all look "
            "local)."),
        Key("operator_token_file", OPTIONAL_PATH,
            f"File holding the operator token (at least {MIN_OPERATOR_TOKEN} characters, surrounding whitespace "
            f"ignored; must not be readable by group or others). `{OPERATOR_TOKEN_ENV}`, when set, is used "
            'instead. "" and no variable: no token.', ""),
    ), ApiConfig),
    Section("p2p", "The peer-to-peer link between nodes.", (
        Key("listen", ADDRESS, "Address this node accepts peers on; its genesis peer entry must reach it.",
            "127.0.0.1:7100"),
    )),
    Section("block", "Block production (validators).", (
        Key("max_block_interval_ms", POSITIVE, "An empty heartbeat block at least this often when idle."),
        Key("batch_wait_ms", POSITIVE,
            "Under load, wait this long to fill a block instead of cutting tiny ones."),
        Key("max_block_txs", POSITIVE, "Transactions per block at most."),
    ), BlockConfig),
    Section("mempool", "Transactions waiting for a block.", (
        Key("max_txs", POSITIVE, "Transactions waiting at most; past it a submit gets 503 mempool_full (retry later)."),
        Key("max_bytes", POSITIVE, "Encoded bytes of the waiting transactions at most; past it: 503 mempool_full."),
        Key("max_per_account", POSITIVE,
            "Transactions one creator account may have waiting (fairness: a flood from one account fills at "
            "most this much of the pool). A bank that batches more at once gets 429 and retries."),
        Key("pending_max_txs", POSITIVE,
            "Multi-signature transactions waiting for signatures (MST_PENDING) at most; past it: 503 pending_full."),
        Key("pending_max_bytes", POSITIVE, "Encoded bytes of the pending transactions at most (503 pending_full)."),
        Key("pending_max_per_account", POSITIVE,
            "Pending transactions one creator may have (429 pending_account_limit): only its signatories can "
            "open one, and this bounds what one account's keys can make every node keep."),
        Key("pending_expiry_minutes", POSITIVE,
            "A pending transaction expires (MST_EXPIRED) this long after its creation time; Iroha's default."),
        Key("pending_regossip_seconds", POSITIVE,
            "Each pending transaction is sent to the validators again this often (and at once when it gains "
            "signatures), so a validator that was down or cut off when it first flew still gets it."),
    ), MempoolConfig),
    Section("consensus", "Timeouts of the BFT rounds (ms); every validator should use the same values.", (
        Key("propose_timeout_ms", NON_NEGATIVE,
            "How long to wait for a round's proposal. 0: `block.max_block_interval_ms` + 1000 (an idle "
            "proposer waits up to the heartbeat interval before proposing an empty block)."),
        Key("prevote_timeout_ms", POSITIVE, "How long to wait for a quorum of prevotes."),
        Key("precommit_timeout_ms", POSITIVE, "How long to wait for a quorum of precommits."),
        Key("timeout_delta_ms", POSITIVE, "Each timeout grows by this per round of a height (base + delta x "
            "round), so after a disruption some round is long enough."),
    ), ConsensusConfig),
    Section("log", "What the node logs and how (UTC timestamps in both formats).", (
        Key("level", _one_of(LOG_LEVELS), "Least severe level written."),
        Key("format", _one_of(LOG_FORMATS), "`text`: one human-readable line per event; `json`: one JSON object "
            "per line."),
        Key("access_log", BOOLEAN, "Log every HTTP request (method, route, status, duration)."),
        Key("progress_interval_s", POSITIVE, "Log the committed height at most this often (seconds)."),
    ), LogConfig),
    Section("health", "Thresholds of `/readyz` (readiness).", (
        Key("stall_intervals", POSITIVE,
            "Not ready when no block was committed for this many `block.max_block_interval_ms` while work is "
            "pending."),
        Key("behind_blocks", POSITIVE, "Not ready when the best known peer is more than this many blocks ahead."),
    ), HealthConfig),
    Section("open_api", "The Bakong Open API-compatible service (`/v1/check_transaction_by_md5`, ...; "
            "docs/open-api.md), per API token (`bakong api-token create`).", (
        Key("rate_per_s", POSITIVE, "Requests per second one token may make on average; past it: 429 with "
            "`Retry-After`."),
        Key("burst", POSITIVE, "Requests one token may make at once before `rate_per_s` applies."),
    ), OpenApiConfig),
    Section("torii", "Torii, Iroha 1's gRPC API (`iroha.protocol` CommandService_v1 and QueryService_v1), so "
            "Iroha clients work against this node unchanged (docs/iroha.md).", (
        Key("listen", OPTIONAL_ADDRESS, 'Address Torii listens on (Iroha\'s port is 50051); "" serves no Torii.',
            "127.0.0.1:50051"),
        Key("tls_cert", OPTIONAL_PATH, 'PEM certificate (chain) for gRPC over TLS on `listen`; give `tls_key` too. '
            '"" (with `tls_key = ""`) serves plain gRPC.', ""),
        Key("tls_key", OPTIONAL_PATH, 'PEM private key of `tls_cert`. "" for none.', ""),
        Key("max_streams", POSITIVE, "StatusStream calls open at once; past it a new one fails with "
            "RESOURCE_EXHAUSTED."),
        Key("max_streams_per_client", POSITIVE, "StatusStream calls open from one source address (its share of "
            "`max_streams`)."),
        Key("not_received_ms", POSITIVE, "A StatusStream for a hash this node has not seen waits this long for "
            "it, then sends NOT_RECEIVED and ends (as Iroha does)."),
        Key("max_calls", POSITIVE, "Calls of any method under way at once (streams included); past it a new "
            "one fails at once with RESOURCE_EXHAUSTED, so a flood of queries cannot queue without end."),
        Key("max_calls_per_connection", POSITIVE, "Calls one gRPC connection may have under way at once "
            "(HTTP/2 streams; the client waits for a free one)."),
    ), ToriiConfig),
    Section("testing", "Test-only behaviour, never on in production.", (
        Key("byzantine", _one_of(BYZANTINE_MODES),
            "Make this validator misuse its own key around its honest engine (`node/runtime/byzantine.py` "
            'describes each mode; `mixed` rotates through all of them by height). "" is honest.'),
        Key("fault_injection", BOOLEAN,
            "Serve `POST /v1/testing/isolate` (drop all of this node's p2p traffic on demand) and "
            "`POST /v1/testing/crash-at-commit` (SIGKILL itself inside its next block commit), for chaos runs."),
        Key("twin", BOOLEAN,
            "This process shares a running validator's key on purpose (the Twins test): its signing guard, which "
            "stops a validator whose key signs elsewhere, is off."),
    ), TestingConfig),
)

_SECTIONS = {s.name: s for s in SCHEMA}
ALL_KEYS = tuple(s.dotted(k.name) for s in SCHEMA for k in s.keys)


# ---- checking a file against the schema ----

def _suggestion(dotted: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(dotted, candidates, n=1, cutoff=0.6)
    return f"did you mean {close[0]}? " if close else ""


def _unknown_key(section: Section, key: str) -> str:
    dotted = section.dotted(key)
    if key in ("host", "port", "address", "bind") and section.key("listen"):
        hint = f'did you mean {section.dotted("listen")} = "host:port"? '
    else:
        hint = _suggestion(dotted, list(ALL_KEYS) + [f"[{s.name}]" for s in SCHEMA if s.name])
    where = f"[{section.name}]" if section.name else "top level"
    return f"unknown key {dotted} ({hint}{where} keys: {', '.join(k.name for k in section.keys)})"


def _checked(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every key of the schema with its value (the file's or the default), or a ConfigError message."""
    top = _SECTIONS[""]
    for name, value in doc.items():
        if top.key(name) is None and name not in _SECTIONS:
            if isinstance(value, dict):
                hint = _suggestion(f"[{name}]", [f"[{s.name}]" for s in SCHEMA if s.name])
                known = ", ".join(s.name for s in SCHEMA if s.name)
                raise ConfigError(f"unknown section [{name}] ({hint}sections: {known})")
            raise ConfigError(_unknown_key(top, name))
    values: dict[str, dict[str, Any]] = {}
    for section in SCHEMA:
        raw = doc if not section.name else doc.get(section.name, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{section.name} must be a table ([{section.name}])")
        if section.name:
            for name in raw:
                if section.key(name) is None:
                    raise ConfigError(_unknown_key(section, name))
        got: dict[str, Any] = {}
        for key in section.keys:
            dotted = section.dotted(key.name)
            if key.name not in raw:
                if key.default is REQUIRED:
                    raise ConfigError(f"{dotted} is missing: expected {key.kind.expected}")
                got[key.name] = section.default(key)
                continue
            value = raw[key.name]
            if not key.kind.ok(value):
                raise ConfigError(f"{dotted} = {toml_value(value)}: expected {key.kind.expected}")
            got[key.name] = value
        values[section.name] = got
    return values


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "a table"
    return repr(value)


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


def _path(base: Path, value: str) -> Path | None:
    return base / value if value else None


def operator_token(file: Path | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The operator token: the environment variable wins over the file; surrounding whitespace (a
    trailing newline from ``echo``) is not part of it. A token file others can read is refused: the token
    grants the operator routes."""
    if OPERATOR_TOKEN_ENV in environ:
        token, where = environ[OPERATOR_TOKEN_ENV].strip(), OPERATOR_TOKEN_ENV
    elif file is None:
        return None
    else:
        where = f"api.operator_token_file {file}"
        try:
            mode = file.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(f"{where} is open to group or others (mode {stat.filemode(mode)}): chmod 600 it")
            token = file.read_text().strip()
        except FileNotFoundError:
            raise ConfigError(f"{where} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where} cannot be read: {exc}") from None
    if len(token) < MIN_OPERATOR_TOKEN:
        raise ConfigError(f"{where}: the operator token must have at least {MIN_OPERATOR_TOKEN} characters, "
                          f"it has {len(token)}")
    return token


def _tls(base: Path, api: Mapping[str, Any], section: str = "api") -> tuple[Path | None, Path | None]:
    cert, key = _path(base, api["tls_cert"]), _path(base, api["tls_key"])
    if (cert is None) != (key is None):
        kinds = "(HTTPS) or neither (plain HTTP)" if section == "api" else "(gRPC over TLS) or neither (plain gRPC)"
        raise ConfigError(f"{section}.tls_cert and {section}.tls_key: give both {kinds}")
    for name, path in ((f"{section}.tls_cert", cert), (f"{section}.tls_key", key)):
        if path is not None and not path.is_file():
            raise ConfigError(f"{name} {path} does not exist")
    return cert, key


def parse_config(doc: Mapping[str, Any], base: Path, source: Path | None = None,
                 environ: Mapping[str, str] = os.environ) -> NodeConfig:
    """A NodeConfig from a parsed TOML document; relative paths are relative to ``base``."""
    v = _checked(doc)
    top, api = v[""], v["api"]
    api_host, api_port = _address(api["listen"])
    p2p_host, p2p_port = _address(v["p2p"]["listen"])
    tls_cert, tls_key = _tls(base, api)
    plain = {k: api[k] for k in api if k in ApiConfig.__dataclass_fields__ and k not in ("tls_cert", "tls_key")}
    return NodeConfig(
        name=top["name"],
        role=top["role"],
        genesis_path=base / top["genesis"],
        key_path=base / top["key_file"],
        data_dir=base / top["data_dir"],
        key_passphrase_file=_path(base, top["key_passphrase_file"]),
        api=ApiConfig(host=api_host, port=api_port, tls_cert=tls_cert, tls_key=tls_key,
                      operator_token=operator_token(_path(base, api["operator_token_file"]), environ), **plain),
        p2p_host=p2p_host,
        p2p_port=p2p_port,
        block=BlockConfig(**v["block"]),
        mempool=MempoolConfig(**v["mempool"]),
        consensus=ConsensusConfig(**v["consensus"]),
        testing=TestingConfig(**v["testing"]),
        log=LogConfig(**v["log"]),
        health=HealthConfig(**v["health"]),
        open_api=OpenApiConfig(**v["open_api"]),
        torii=_torii(base, v["torii"]),
        source=source,
    )


def _torii(base: Path, torii: Mapping[str, Any]) -> ToriiConfig:
    cert, key = _tls(base, torii, "torii")
    limits = {k: torii[k] for k in ("max_streams", "max_streams_per_client", "not_received_ms", "max_calls",
                                    "max_calls_per_connection")}
    if not torii["listen"]:
        return ToriiConfig(enabled=False, tls_cert=cert, tls_key=key, **limits)
    host, port = _address(torii["listen"])
    return ToriiConfig(host=host, port=port, tls_cert=cert, tls_key=key, **limits)


def load_config(path: str | Path) -> NodeConfig:
    """The config in ``path``; any problem is one ConfigError line that starts with the file's name."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    try:
        return parse_config(doc, p.resolve().parent, p)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
