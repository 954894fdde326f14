"""Node configuration (TOML, read with the standard library's tomllib).

Relative paths in a config file are relative to the file's own directory, so a testnet directory can
be moved as a whole. Example (``configs/node.example.toml``)::

    name = "nbc"                      # this node's name in the genesis peer list
    role = "validator"                # or "observer"
    genesis = "genesis.json"
    key_file = "keys/node-nbc.key"
    data_dir = "data/nbc"
    [api]
    listen = "127.0.0.1:8100"
    [p2p]
    listen = "127.0.0.1:7100"
    [block]
    max_block_interval_ms = 2000      # an empty heartbeat block at least this often
    batch_wait_ms = 50                # under load, wait this long to fill a block rather than cut tiny ones
    max_block_txs = 5000
    [mempool]
    max_txs = 100000
    max_bytes = 67108864
    max_per_account = 2000
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    code = "bad_config"


@dataclass(frozen=True)
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = 8100
    max_body_bytes: int = 8 * 1024 * 1024
    max_batch: int = 5000
    max_websockets: int = 1000
    max_connections: int = 2000
    """Open HTTP connections at once; past it a new one gets 503 too_many_connections and is closed."""
    max_connections_per_client: int = 256
    """Open HTTP connections from one source address (its share of ``max_connections``); past it that
    client's new one gets 503 too_many_connections. Behind a reverse proxy every client has the proxy's
    address: raise it to ``max_connections`` there and let the proxy hold the per-client shares."""
    header_timeout_ms: int = 10_000
    """A new connection's first request head must arrive within this of the accept, or it is closed."""
    keepalive_timeout_ms: int = 30_000
    """After an answer, the next request head must arrive within this, or the connection is closed."""
    max_websockets_per_client: int = 100
    """Status and block streams open from one source address (its share of ``max_websockets``)."""


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
    """Test-only behaviour, never on by default. ``byzantine`` makes this validator misuse its own key
    around its honest engine (``node.byzantine`` describes each mode): ``double_vote``, ``equivocate``,
    ``multi_vote``, ``resign``, ``lying_head``, ``oversized``, ``future_flood``, ``withhold``, ``amnesia``,
    or ``mixed`` (all of them, rotating by height). ``""`` (the default) is honest."""

    byzantine: str = ""
    fault_injection: bool = False
    """Serve ``POST /v1/testing/isolate`` (chaos runs: drop all of this node's p2p traffic on demand) and
    ``POST /v1/testing/crash-at-commit`` (SIGKILL itself inside its next block commit)."""


BYZANTINE_MODES = ("", "double_vote", "equivocate", "multi_vote", "resign", "lying_head", "oversized",
                   "future_flood", "withhold", "amnesia", "mixed")
"""Values of ``[testing] byzantine`` (``node.byzantine.MODES`` is checked to be the same tuple)."""


@dataclass(frozen=True)
class MempoolConfig:
    max_txs: int = 100_000
    max_bytes: int = 64 * 1024 * 1024
    max_per_account: int = 2_000
    """Transactions one creator account may have waiting (fairness: a flood from one account fills at
    most this much of the pool). A bank that batches more at once gets 429 and retries."""


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


def _address(value: Any, what: str) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(f"{what} must be 'host:port', got {value!r}")
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{what} has a bad port: {value!r}")
    return host, int(port)


def _section(doc: dict[str, Any], name: str, cls: type[Any]) -> Any:
    raw = doc.get(name, {})
    if not isinstance(raw, dict):
        raise ConfigError(f"[{name}] must be a table")
    known = set(cls.__dataclass_fields__)
    unknown = set(raw) - known - {"listen"}
    if unknown:
        raise ConfigError(f"[{name}] has unknown keys: {', '.join(sorted(unknown))}")
    values = {k: v for k, v in raw.items() if k in known}
    for k, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0 or (v == 0 and k != "propose_timeout_ms"):
            raise ConfigError(f"[{name}] {k} must be a positive integer")
    return cls(**values)


def _testing(doc: dict[str, Any]) -> TestingConfig:
    raw = doc.get("testing", {})
    if not isinstance(raw, dict):
        raise ConfigError("[testing] must be a table")
    unknown = set(raw) - {"byzantine", "fault_injection"}
    if unknown:
        raise ConfigError(f"[testing] has unknown keys: {', '.join(sorted(unknown))}")
    mode = raw.get("byzantine", "")
    if mode not in BYZANTINE_MODES:
        raise ConfigError(f"[testing] byzantine must be one of {', '.join(map(repr, BYZANTINE_MODES))}")
    fault = raw.get("fault_injection", False)
    if not isinstance(fault, bool):
        raise ConfigError("[testing] fault_injection must be true or false")
    return TestingConfig(byzantine=mode, fault_injection=fault)


def load_config(path: str | Path) -> NodeConfig:
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None
    base = p.resolve().parent
    for required in ("name", "genesis", "key_file", "data_dir"):
        if not isinstance(doc.get(required), str):
            raise ConfigError(f"config needs a string '{required}'")
    role = doc.get("role", "validator")
    if role not in ("validator", "observer"):
        raise ConfigError("role must be 'validator' or 'observer'")
    api = _section(doc, "api", ApiConfig)
    api_host, api_port = _address(doc.get("api", {}).get("listen", "127.0.0.1:8100"), "[api] listen")
    api = dataclasses.replace(api, host=api_host, port=api_port)
    p2p_host, p2p_port = _address(doc.get("p2p", {}).get("listen", "127.0.0.1:7100"), "[p2p] listen")
    return NodeConfig(
        name=doc["name"],
        role=role,
        genesis_path=base / doc["genesis"],
        key_path=base / doc["key_file"],
        data_dir=base / doc["data_dir"],
        api=api,
        p2p_host=p2p_host,
        p2p_port=p2p_port,
        block=_section(doc, "block", BlockConfig),
        mempool=_section(doc, "mempool", MempoolConfig),
        consensus=_section(doc, "consensus", ConsensusConfig),
        testing=_testing(doc),
        source=p,
    )
