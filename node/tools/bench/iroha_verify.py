"""What one Iroha signature costs to verify: ``python -m node.tools.bench.iroha_verify``.

Three figures, each the median over ``--runs`` runs of ``--count`` verifications of distinct payloads
(a transfer-sized 200 bytes each), in microseconds per verification:

- legacy (ed25519/sha3): ``node.ledger.iroha_crypto``, libsodium's point arithmetic; issue 18's target
  is <= 300 us;
- standard (ed25519 over the raw payload): libsodium's own verify;
- the official client's pure-Python ``ed25519.checkvalid`` (what Iroha's Python tooling uses for the
  legacy kind), loaded from the official client's venv (``.venv-iroha``, made by the Iroha tests, or
  ``--official-ed25519 PATH``); skipped, with a line saying so, when it is not there. It is slow, so it
  verifies ``--count // 20`` signatures per run (at least 5).

A benchmark, not a test: it asserts nothing. A few seconds in all.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from node.ledger.iroha_crypto import (
    _montgomery_u,
    legacy_keypair_from_seed,
    legacy_public_key,
    legacy_sign,
    legacy_sign_expanded,
    standard_public_key,
    standard_sign,
    verify_iroha_signature,
)

ROOT = Path(__file__).resolve().parents[3]
PAYLOAD_BYTES = 200


def _median_us(check: Callable[[int], object], count: int, runs: int) -> float:
    """Median over ``runs`` of the per-call time of ``check(0) .. check(count - 1)``, in microseconds."""
    per_call = []
    for _ in range(runs):
        started = time.perf_counter()
        for i in range(count):
            check(i)
        per_call.append((time.perf_counter() - started) / count * 1e6)
    return statistics.median(per_call)


def _payloads(count: int) -> list[bytes]:
    return [hashlib.sha3_512(i.to_bytes(4, "big")).digest() * 4 for i in range(count)]


def find_official_ed25519(root: Path = ROOT) -> Path | None:
    """The official client's ``iroha/ed25519.py`` in ``<repo>/.venv-iroha``, if that venv exists."""
    found = sorted(root.glob(".venv-iroha/lib/python*/site-packages/iroha/ed25519.py"))
    return found[0] if found else None


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("official_iroha_ed25519", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(count: int, runs: int, official: Path | None) -> dict[str, float | None]:
    seed = bytes(range(32))
    payloads = [p[:PAYLOAD_BYTES] for p in _payloads(count)]
    legacy = legacy_public_key(seed)
    standard = standard_public_key(seed)
    legacy_signatures = [legacy_sign(seed, p) for p in payloads]
    standard_signatures = [standard_sign(seed, p) for p in payloads]
    assert all(verify_iroha_signature(legacy, p, s) for p, s in zip(payloads, legacy_signatures, strict=True))
    # A key's first verification also checks the key (its subgroup) and computes its Montgomery u, which
    # are then cached (iroha_crypto._montgomery_u): measured apart, with a fresh key each time.
    fresh = [legacy_keypair_from_seed(hashlib.sha256(b"bench key %d" % i).digest()) for i in range(count)]
    fresh_signatures = [legacy_sign_expanded(pair, p) for pair, p in zip(fresh, payloads, strict=True)]

    def first_use(i: int) -> bool:
        _montgomery_u.cache_clear()
        return verify_iroha_signature(fresh[i].public_key, payloads[i], fresh_signatures[i])

    assert all(first_use(i) for i in range(count))
    figures: dict[str, float | None] = {
        "legacy_us": _median_us(lambda i: verify_iroha_signature(legacy, payloads[i], legacy_signatures[i]),
                                count, runs),
        "legacy_new_key_us": _median_us(first_use, count, runs),
        "standard_us": _median_us(lambda i: verify_iroha_signature(standard, payloads[i], standard_signatures[i]),
                                  count, runs),
        "official_checkvalid_us": None,
    }
    if official is not None:
        checkvalid = _load(official).checkvalid
        hashes = [hashlib.sha3_256(p).digest() for p in payloads]  # the legacy kind signs the payload's hash
        slow = max(5, count // 20)
        figures["official_checkvalid_us"] = _median_us(
            lambda i: checkvalid(legacy_signatures[i], hashes[i], legacy.raw), slow, runs)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.tools.bench.iroha_verify", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=400, help="verifications per run (default 400)")
    parser.add_argument("--runs", type=int, default=5, help="runs; the median is reported (default 5)")
    parser.add_argument("--official-ed25519", type=Path, default=None,
                        help="the official client's iroha/ed25519.py (default: the one in .venv-iroha)")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    official = args.official_ed25519 or find_official_ed25519()
    figures = measure(args.count, args.runs, official)
    print(f"Iroha signature verification, median of {args.runs} runs, microseconds per signature:")
    print(f"  legacy ed25519/sha3 (libsodium arithmetic): {figures['legacy_us']:10,.1f}")
    print(f"    the same, a key's first use (not cached): {figures['legacy_new_key_us']:10,.1f}")
    print(f"  standard ed25519 (libsodium verify):        {figures['standard_us']:10,.1f}")
    if figures["official_checkvalid_us"] is None:
        print("  official client checkvalid (pure Python):  skipped (no .venv-iroha; run the Iroha tests "
              "or pass --official-ed25519)")
    else:
        print(f"  official client checkvalid (pure Python):  {figures['official_checkvalid_us']:10,.1f}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
