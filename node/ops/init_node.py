"""``bakong init``: the directory of ONE bank's node, made on that bank's own host.

``bakong testnet init`` writes every bank's keys into one folder, which is right for a developer and
wrong for a network of banks: a bank's node key must be made where it will live and never leave it.
This writes, into an empty directory::

    node.toml           the config: every key of the schema (node.config.SCHEMA), each with its description
    node.key            the node's Ed25519 key, mode 0600 (encrypted under a passphrase when given one)
    join-request.json   what the central bank submits to add this node (AddPeer), for ``bakong tx submit``
    promote-request.json  (role validator) what it submits once the node has caught up: observer -> validator
    genesis.json        the network's genesis, when ``--genesis`` is given (else the operator puts it there)

A validator joins as an observer first (``syncing: true``) and is promoted once it has caught up: a
validator counts toward the quorum from the block that adds it, and one still replaying the chain would
leave the others without its vote (with one validator, adding a second that is not yet running halts
the chain).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consensus.crypto import KeyPair
from node.config import ADDRESS, OPTIONAL_ADDRESS, REQUIRED, SCHEMA, Key, Section
from node.keyfile import passphrase_from, write_key
from node.ledger import commands as c
from node.ledger.errors import StatelessError
from node.ledger.genesis import GenesisError, load_genesis
from node.ops.errors import OpsError
from node.version import VERSION

CONFIG = "node.toml"
KEY = "node.key"
GENESIS = "genesis.json"
JOIN_REQUEST = "join-request.json"
PROMOTE_REQUEST = "promote-request.json"
DATA = "data"
WIDTH = 100


@dataclass(frozen=True)
class InitOptions:
    directory: Path
    name: str
    role: str
    p2p_address: str
    """host:port other banks' nodes dial: what the central bank records in AddPeer."""
    genesis: Path | None = None
    api_listen: str = "127.0.0.1:8100"
    p2p_listen: str = "0.0.0.0:7100"
    torii_listen: str = "127.0.0.1:50051"
    """Iroha's gRPC API (``[torii] listen``); "" serves none. Two nodes on one host need two ports."""
    passphrase_file: Path | None = None
    central_bank_account: str = "admin@nbc"
    force: bool = False


@dataclass(frozen=True)
class InitResult:
    directory: Path
    config: Path
    key: Path
    public_key: str
    encrypted: bool
    join_request: Path
    promote_request: Path | None
    genesis: Path
    genesis_sha256: str | None
    """None when no genesis was given: the operator still has to fetch it."""
    chain_id: str | None


# ---- the config file ----

def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    raise TypeError(f"no TOML form for {value!r}")


def _comment(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent + "# ", subsequent_indent=indent + "# ")


def _key_lines(section: Section, key: Key, values: Mapping[str, Any]) -> list[str]:
    dotted = section.dotted(key.name)
    if dotted in values:
        value = values[dotted]
    elif key.default is REQUIRED:
        raise ValueError(f"{dotted} is required and was not given")
    else:
        value = section.default(key)
    note = f"{key.doc} Expected: {key.kind.expected}."
    if key.default is not REQUIRED:
        note += f" Default: {_toml(section.default(key))}."
    return _comment(note) + [f"{key.name} = {_toml(value)}"]


def render_config(values: Mapping[str, Any], header: str = "") -> str:
    """A node config holding every key of ``node.config.SCHEMA``: ``values`` (by dotted key, e.g.
    ``"api.listen"``) where given, else the default; each key preceded by its description as a comment."""
    unknown = set(values) - {s.dotted(k.name) for s in SCHEMA for k in s.keys}
    if unknown:
        raise ValueError(f"not in the config schema: {', '.join(sorted(unknown))}")
    lines = [*_comment(header)] if header else []
    for section in SCHEMA:
        if lines:
            lines.append("")
        if section.name:
            lines += [*_comment(section.doc), f"[{section.name}]"]
        else:
            lines += _comment(section.doc)
        for index, key in enumerate(section.keys):
            lines += ([""] if index else []) + _key_lines(section, key, values)
    return "\n".join(lines) + "\n"


# ---- the node directory ----

def _check(opts: InitOptions) -> None:
    if opts.role not in ("validator", "observer"):
        raise OpsError("bad_arguments", "--role must be validator or observer")
    try:
        c.check_name(opts.name)
        c.check_address(opts.p2p_address)
        c.check_account(opts.central_bank_account)
    except StatelessError as exc:
        raise OpsError(exc.code, exc.message) from None
    for what, value in (("--api-listen", opts.api_listen), ("--p2p-listen", opts.p2p_listen)):
        if not ADDRESS.ok(value):
            raise OpsError("bad_arguments", f"{what} {value!r}: expected {ADDRESS.expected}")
    if not OPTIONAL_ADDRESS.ok(opts.torii_listen):
        raise OpsError("bad_arguments", f"--torii-listen {opts.torii_listen!r}: expected {OPTIONAL_ADDRESS.expected}")
    host = opts.p2p_address.rpartition(":")[0]
    if host in ("0.0.0.0", "::", "[::]", ""):
        raise OpsError("bad_arguments", f"--p2p-address {opts.p2p_address!r} is not an address other banks can "
                                        "dial; give this host's reachable address and port")
    directory = opts.directory
    if directory.exists() and not directory.is_dir():
        raise OpsError("exists", f"{directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()):
        if not opts.force:
            raise OpsError("not_empty", f"{directory} is not empty; choose an empty directory (or --force to "
                                        "write into it; a key or data directory already there is never replaced)")
        for kept in (KEY, DATA):
            if (directory / kept).exists():
                raise OpsError("exists", f"{directory / kept} exists: init never replaces a node's key or data; "
                                         "move it away first")


def init_node(opts: InitOptions) -> InitResult:
    """Write one bank's node directory (see the module docstring); refuses a non-empty one unless ``force``."""
    _check(opts)
    genesis_sha256 = chain_id = None
    if opts.genesis is not None:
        try:
            chain_id = load_genesis(opts.genesis).chain_id
            genesis_bytes = opts.genesis.read_bytes()
        except (GenesisError, OSError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise OpsError(getattr(exc, "code", "bad_genesis"), f"{opts.genesis}: {message}") from None
        genesis_sha256 = hashlib.sha256(genesis_bytes).hexdigest()
    passphrase = passphrase_from(opts.passphrase_file)  # before writing anything: a bad file stops here
    directory = opts.directory
    directory.mkdir(parents=True, exist_ok=True)
    if opts.genesis is not None and opts.genesis.resolve() != (directory / GENESIS).resolve():
        shutil.copyfile(opts.genesis, directory / GENESIS)
    key = KeyPair.generate()
    write_key(directory / KEY, key, passphrase)
    public_key = key.public_key.hex()
    values: dict[str, Any] = {
        "name": opts.name, "role": opts.role, "genesis": GENESIS, "key_file": KEY, "data_dir": DATA,
        "api.listen": opts.api_listen, "p2p.listen": opts.p2p_listen, "torii.listen": opts.torii_listen,
    }
    if opts.passphrase_file is not None:
        values["key_passphrase_file"] = str(opts.passphrase_file.resolve())
    header = (f"Node config of {opts.name} ({opts.role}), written by `bakong init` (bakong {VERSION}). Every key "
              "is listed with its description and default; docs/configuration.md is the reference and "
              "docs/operations.md the procedures. Relative paths are relative to this file's directory.")
    (directory / CONFIG).write_text(render_config(values, header))
    peer = {"type": "AddPeer", "name": opts.name, "public_key": public_key, "address": opts.p2p_address}
    join = directory / JOIN_REQUEST
    # Every new node joins as an observer (syncing): a validator is promoted once it has caught up.
    join.write_text(json.dumps({"creator": opts.central_bank_account,
                                "commands": [{**peer, "syncing": True}]}, indent=2) + "\n")
    promote = None
    if opts.role == "validator":
        promote = directory / PROMOTE_REQUEST
        promote.write_text(json.dumps({"creator": opts.central_bank_account, "commands": [
            {"type": "RemovePeer", "public_key": public_key}, {**peer, "syncing": False}]}, indent=2) + "\n")
    return InitResult(directory, directory / CONFIG, directory / KEY, public_key, passphrase is not None, join,
                      promote, directory / GENESIS, genesis_sha256, chain_id)


def instructions(result: InitResult, opts: InitOptions) -> str:
    """What the operator does next, printed by ``bakong init``."""
    d = result.directory
    lines = [
        f"Initialised {opts.role} node {opts.name!r} in {d}",
        f"  config       {result.config}  (every key, commented; reference: docs/configuration.md)",
        f"  key          {result.key}  (mode 0600{', encrypted' if result.encrypted else ''}; never copy it off "
        "this host)",
        f"  public key   {result.public_key}",
        "",
        "1. Send the central bank (not secrets, but it must know they come from you: confirm the key over a",
        "   second channel, e.g. read its first and last 8 characters on a call):",
        f"     name         {opts.name}",
        f"     public key   {result.public_key}",
        f"     p2p address  {opts.p2p_address}",
        f"   It adds this node as an observer with AddPeer: `bakong tx submit {result.join_request.name} "
        "--key <central bank admin key>` (the file is in this directory).",
    ]
    if result.genesis_sha256 is None:
        lines += [
            "2. Get the network's genesis.json from the central bank and save it as",
            f"     {result.genesis}",
            "   Compare `sha256sum genesis.json` with the hash the central bank publishes, over a second channel",
            "   (phone, signed letter): a different genesis is a different network.",
        ]
    else:
        lines += [
            f"2. Genesis: {result.genesis} (chain {result.chain_id})",
            f"     sha256 {result.genesis_sha256}",
            "   Compare it with the hash the central bank publishes, over a second channel (phone, signed letter).",
        ]
    lines += ["3. Once the central bank's AddPeer is committed, start the node; it syncs from genesis:",
              f"     bakong node --config {result.config}"]
    if result.promote_request is not None:
        lines += ["4. When it has caught up (`bakong status`: catching_up false), the central bank promotes it",
                  f"   to validator: `bakong tx submit {result.promote_request.name} --key <central bank admin key>`."]
    return "\n".join(lines)
