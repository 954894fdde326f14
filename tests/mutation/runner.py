"""Run mutants against their mapped tests in copies of the repository, and report.

Usage (through ./scripts/mutation, which sets up .venv):

    ./scripts/mutation [TARGET ...] [--json FILE] [--workers 2] [--only ID ...] [--list] [--show ID]

A TARGET is a file (``consensus/engine.py``) or one function of it (``node/ledger/state.py::next_state_root``);
without targets, ``DEFAULT_TARGETS``. Each worker owns a copy of the repository under /tmp (the working
tree is only read); a mutant is written into that copy, its mapped tests run with
``pytest -x -q -p no:cacheprovider`` under the ``mutation`` hypothesis profile (few, derandomized
examples) and a timeout of ``max(20 s, 3 x`` the unmutated run ``+ 10 s)``, then the file is restored.
Before any mutant, each target's mapped tests must pass unmutated in the copy.
"""

from __future__ import annotations

import argparse
import difflib
import glob
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tests.mutation.mutants import Mutant, mutants_of

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT_FILE = Path(__file__).with_name("equivalent.txt")

DEFAULT_TARGETS = (
    "consensus/engine.py", "consensus/round_log.py", "consensus/certificate.py", "consensus/safety.py",
    "consensus/validators.py", "consensus/evidence.py", "consensus/messages.py::ProposalRef",
    "consensus/messages.py::entry_of", "consensus/messages.py::entry_from_record", "node/p2p/block_sync.py",
    "node/runtime/safety_store.py", "node/runtime/driver.py::next_height", "node/ledger/chain.py::Ledger.build_block",
    "node/ledger/chain.py::Ledger.validate_block", "node/ledger/chain.py::unsigned",
    "node/ledger/state.py::next_state_root", "node/intake/admission.py",
)

# Consensus tests, fastest first: with -x most mutants die in the first file that exercises them.
_ENGINE_LEVEL = [  # the engine driven by hand, event by event: a second or two each
    "tests/consensus/test_engine.py", "tests/consensus/test_engine_mutants.py",
    "tests/consensus/test_engine_rules_mutants.py", "tests/consensus/test_equivocation_counting.py", "tests/consensus/test_byzantine_locks.py",
    "tests/consensus/test_safety_record.py", "tests/consensus/test_regossip.py",
]
_SIMULATED = [  # whole simulated networks, then the property searches: slow, so last
    "tests/consensus/test_byzantine_regressions.py", "tests/consensus/test_simulator.py",
    "tests/consensus/test_byzantine_repertoire.py", "tests/consensus/test_negative_control.py",
    "tests/consensus/test_engine_fuzz.py", "tests/consensus/test_properties.py",
]
_CONSENSUS_TESTS = [
    "tests/consensus/test_validators_and_certificates.py", "tests/consensus/test_messages.py",
    "tests/consensus/test_round_log.py", "tests/consensus/test_safety_record_rules.py",
    "tests/consensus/test_evidence.py", *_ENGINE_LEVEL, *_SIMULATED,
]
# File (or directory prefix) -> the tests that run against its mutants, in order; globs allowed.
# The most specific entry wins.
TEST_MAP: dict[str, list[str]] = {
    "consensus/": _CONSENSUS_TESTS,
    "consensus/codec.py": ["tests/ledger/test_codec_edges.py", "tests/ledger/test_codec.py",
                           "tests/p2p/test_peer_messages_wire.py"],
    "consensus/round_log.py": ["tests/consensus/test_round_log.py", *_ENGINE_LEVEL, *_SIMULATED],
    "consensus/engine.py": [*_ENGINE_LEVEL, *_SIMULATED],
    "consensus/safety.py": ["tests/consensus/test_safety_record_rules.py", "tests/consensus/test_safety_record.py",
                            "tests/runtime/test_safety_store.py", *_CONSENSUS_TESTS],
    "consensus/evidence.py": ["tests/consensus/test_evidence.py", "tests/consensus/test_engine.py",
                              "tests/consensus/test_equivocation_counting.py", "tests/consensus/test_messages.py",
                              *_CONSENSUS_TESTS],
    "consensus/messages.py": ["tests/consensus/test_evidence.py", "tests/consensus/test_engine.py",
                              "tests/consensus/test_equivocation_counting.py", "tests/consensus/test_messages.py",
                              *_CONSENSUS_TESTS],
    "consensus/certificate.py": ["tests/consensus/test_validators_and_certificates.py",
                                 "tests/consensus/test_equivocation_counting.py", *_CONSENSUS_TESTS],
    "node/p2p/block_sync.py": ["tests/p2p/test_block_sync*.py"],
    "node/p2p/network.py": ["tests/p2p/test_network_regossip.py", "tests/p2p/test_gossip_pending.py"],
    "node/p2p/key_clash.py": ["tests/p2p/test_key_clash.py"],
    "node/p2p/handshake.py": ["tests/p2p/test_wire_format.py", "tests/p2p/test_transport.py",
                              "tests/p2p/test_key_clash.py", "tests/p2p/test_p2p_hostile_input.py"],
    "node/p2p/gossip.py": ["tests/p2p/test_gossip_intake.py", "tests/p2p/test_gossip_pending.py",
                           "tests/p2p/test_gossip_regossip.py"],
    "node/p2p/messages.py": ["tests/p2p/test_peer_messages_wire.py", "tests/p2p/test_p2p_hostile_input.py"],
    "node/p2p/frames.py": ["tests/p2p/test_wire_format.py", "tests/p2p/test_transport.py",
                           "tests/p2p/test_p2p_hostile_input.py"],
    "node/p2p/transport.py": ["tests/p2p/test_transport*.py", "tests/p2p/test_key_clash.py"],
    "node/runtime/safety_store.py": ["tests/runtime/test_value_stash.py", "tests/runtime/test_safety_store.py",
                             "tests/runtime/test_safety_file_slots.py", "tests/consensus/test_safety_record.py"],
    "node/runtime/driver.py": ["tests/runtime/test_next_height_snapshot.py", "tests/runtime/test_driver_regossip.py",
                               "tests/runtime/test_driver_inbox.py"],
    "node/runtime/signing_guard.py": ["tests/runtime/test_signing_guard.py"],
    "storage/db.py": ["tests/storage/*.py"],
    "storage/backup.py": ["tests/storage/test_backup.py", "tests/ops/test_backup_restore.py"],
    "node/api/operator.py": ["tests/api/test_operator_routes.py"],
    "node/runtime/health.py": ["tests/runtime/test_health.py"],
    "node/intake/admission.py": ["tests/intake/test_admission.py", "tests/intake/test_intake_journal.py"],
    "node/ledger/chain.py": ["tests/ledger/test_foreign_signatures.py", "tests/ledger/test_block_limits.py",
                             "tests/ledger/test_execution.py", "tests/ledger/test_access_control.py",
                             "tests/storage/test_storage.py", "tests/ledger/test_payments.py"],
    "node/ledger/payments.py": ["tests/ledger/test_payments.py", "tests/test_pay_cli.py", "tests/api/test_khqr_payment.py"],
    "node/ledger/iroha_crypto.py": ["tests/ledger/test_iroha_crypto.py"],
    "node/ledger/batches.py": ["tests/ledger/test_batches.py"],
    "node/ledger/iroha_tx.py": ["tests/ledger/test_iroha_tx.py", "tests/ledger/test_batches.py",
                                "tests/ledger/test_iroha_fast.py"],
    "node/ledger/iroha_fast.py": ["tests/ledger/test_iroha_fast.py"],
    "node/api/tx_status.py": ["tests/api/test_tx_status.py"],
    "node/intake/pending.py": ["tests/intake/test_pending.py", "tests/intake/test_pending_pool.py",
                               "tests/p2p/test_gossip_pending.py"],
    "node/ledger/batch_meta.py": ["tests/ledger/test_batches.py"],
    "node/ledger/iroha_commands.py": ["tests/ledger/test_iroha_commands.py"],
    "node/api/torii/query_auth.py": ["tests/api/test_torii_query_auth.py", "tests/api/test_torii_queries.py"],
    "node/api/torii/iroha_answers.py": ["tests/api/test_torii_queries.py"],
    "node/api/torii/iroha_render.py": ["tests/api/test_torii_render.py", "tests/api/test_torii_queries.py"],
    "node/api/torii/statuses.py": ["tests/api/test_torii_statuses.py", "tests/api/test_torii_commands.py"],
    "node/api/torii/commands.py": ["tests/api/test_torii_commands.py", "tests/api/test_torii_follow.py",
                                   "tests/api/test_torii_hostile_input.py", "tests/api/test_torii_limits.py"],
    "node/ledger/commands.py": ["tests/ledger/test_payments.py", "tests/ledger/test_codec.py"],
    "node/ledger/state.py": ["tests/ledger/test_state_root_formula.py", "tests/ledger/test_execution.py",
                             "tests/ledger/test_prefetch.py", "tests/ledger/test_batches.py",
                             "tests/ledger/test_state_view.py"],
}

COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".hypothesis", ".pytest_cache",
                                     "*.egg-info", "bench-results", ".testnet", "*.whl", "build")

KILLED, SURVIVED, TIMEOUT, EQUIVALENT = "killed", "survived", "timeout", "equivalent"


def tests_for(path: str, root: Path) -> list[str]:
    """The mapped test files of ``path`` that exist in ``root``, in map order, without repeats."""
    matches = [prefix for prefix in TEST_MAP if path == prefix or (prefix.endswith("/") and path.startswith(prefix))]
    if not matches:
        raise SystemExit(f"no tests are mapped to {path}: add it to TEST_MAP in {__file__} or pass --tests")
    patterns = TEST_MAP[max(matches, key=len)]
    found: list[str] = []
    for pattern in patterns:
        for hit in sorted(glob.glob(str(root / pattern))):
            rel = str(Path(hit).relative_to(root))
            if rel not in found:
                found.append(rel)
    return found


def load_equivalents(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    """``id -> reason`` from lines ``<id> <reason>`` (``#`` starts a comment line)."""
    found: dict[str, str] = {}
    if not path.exists():
        return found
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        ident, _, reason = line.partition(" ")
        found[ident] = reason.strip() or "(no reason given)"
    return found


@dataclass
class Result:
    mutant: Mutant
    status: str
    seconds: float
    detail: str = ""


@dataclass
class Target:
    path: str
    function: str | None
    tests: list[str]
    mutants: list[Mutant] = field(default_factory=list)
    timeout: float = 0.0
    baseline_seconds: float = 0.0
    wall_seconds: float = 0.0


class Workspace:
    """Copies of the repository, one per worker, handed out one at a time."""

    def __init__(self, source: Path, workers: int, keep: bool, rev: str | None = None) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="bakong-mutation-"))
        self.keep = keep
        self.dirs = []
        for i in range(workers):
            copy = self.base / f"w{i}"
            if rev is None:
                shutil.copytree(source, copy, ignore=COPY_IGNORE)
            else:
                copy.mkdir()
                archive = subprocess.run(["git", "archive", rev], cwd=source, capture_output=True, check=True).stdout
                subprocess.run(["tar", "-x", "-C", str(copy)], input=archive, check=True)
            subprocess.run([sys.executable, "-m", "compileall", "-q", "consensus", "node", "storage", "tests"],
                           cwd=copy, check=True, stdout=subprocess.DEVNULL)
            self.dirs.append(copy)
        self.free: queue.Queue[Path] = queue.Queue()
        for d in self.dirs:
            self.free.put(d)

    def close(self) -> None:
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(workdir), PYTHONDONTWRITEBYTECODE="1", HYPOTHESIS_PROFILE="mutation")
    env.pop("CI", None)
    return env


def run_tests(workdir: Path, tests: list[str], timeout: float | None) -> tuple[int | None, float, str]:
    """(exit code or None on timeout, seconds, tail of the output)."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header",
           "-o", "addopts=", *tests]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=workdir, env=_env(workdir), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the tests' own children go with it
        out, _ = proc.communicate()
        code = None
    text = out.decode(errors="replace").strip().splitlines()
    return code, time.monotonic() - started, "\n".join(text[-15:])


def _forget_bytecode(workdir: Path, path: str) -> None:
    file = workdir / path
    for pyc in (file.parent / "__pycache__").glob(f"{file.stem}.*.pyc"):
        pyc.unlink()


def check_imports_from_copy(workdir: Path) -> None:
    out = subprocess.run([sys.executable, "-c", "import consensus, node, storage, tests; "
                          "print(consensus.__file__, node.__file__, storage.__file__, tests.__file__)"],
                         cwd=workdir, env=_env(workdir), capture_output=True, text=True, check=True).stdout
    for location in out.split():
        if not Path(location).resolve().is_relative_to(workdir.resolve()):
            raise SystemExit(f"the copy imports {location}, not its own code: mutants would not be tested")


def run_mutant(space: Workspace, target: Target, mutant: Mutant) -> Result:
    workdir = space.free.get()
    file = workdir / mutant.path
    original = file.read_bytes()
    try:
        file.write_bytes(mutant.apply(original))
        code, seconds, tail = run_tests(workdir, target.tests, target.timeout)
    finally:
        file.write_bytes(original)
        space.free.put(workdir)
    if code is None:
        return Result(mutant, TIMEOUT, seconds)
    if code == 0:
        return Result(mutant, SURVIVED, seconds)
    if code in (1, 2, 3):  # failed test, interrupted (an import error), internal error
        return Result(mutant, KILLED, seconds, tail.splitlines()[-1] if tail else "")
    return Result(mutant, KILLED, seconds, f"pytest exit {code}: {tail[-200:]}")


def read_source(root: Path, path: str, rev: str | None) -> bytes:
    if rev is None:
        if not (root / path).is_file():
            raise SystemExit(f"no such file: {path}")
        return (root / path).read_bytes()
    shown = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True)
    if shown.returncode != 0:
        raise SystemExit(f"no such file at {rev}: {path}")
    return shown.stdout


def parse_target(spec: str, root: Path, tests: list[str] | None, rev: str | None = None) -> Target:
    path, _, function = spec.partition("::")
    source = read_source(root, path, rev)
    target = Target(path, function or None, list(tests or []))  # mapped tests: resolved in the copy
    target.mutants = mutants_of(source, path, target.function)
    return target


def show(mutant: Mutant, root: Path, rev: str | None = None) -> str:
    before = read_source(root, mutant.path, rev)
    after = mutant.apply(before)
    return "".join(difflib.unified_diff(before.decode().splitlines(True), after.decode().splitlines(True),
                                        f"a/{mutant.path}", f"b/{mutant.path}", n=2))


def summarize(targets: list[Target], results: list[Result], equivalents: dict[str, str]) -> dict:
    files = []
    for target in targets:
        mine = [r for r in results if r.mutant.path == target.path and r.mutant in target.mutants]
        counts = {s: sum(1 for r in mine if r.status == s) for s in (KILLED, SURVIVED, TIMEOUT, EQUIVALENT)}
        judged = len(mine) - counts[EQUIVALENT]
        ratio = (counts[KILLED] + counts[TIMEOUT]) / judged if judged else 1.0
        files.append({
            "target": target.path + (f"::{target.function}" if target.function else ""),
            "tests": target.tests, "mutants": len(mine), **counts, "kill_ratio": round(ratio, 4),
            "baseline_seconds": round(target.baseline_seconds, 1), "timeout_seconds": round(target.timeout, 1),
            "wall_seconds": round(target.wall_seconds, 1),
        })
    return {
        "files": files,
        "mutants": [{"id": r.mutant.id, "where": r.mutant.where, "function": r.mutant.function,
                     "operator": r.mutant.operator, "mutation": r.mutant.description, "status": r.status,
                     "seconds": round(r.seconds, 2), "reason": equivalents.get(r.mutant.id, ""),
                     "detail": r.detail} for r in results],
    }


def print_report(summary: dict, wall: float) -> None:
    survivors = [m for m in summary["mutants"] if m["status"] in (SURVIVED, TIMEOUT, EQUIVALENT)]
    for m in sorted(survivors, key=lambda m: (m["status"], m["where"])):
        note = f"  [{m['reason']}]" if m["reason"] else ""
        print(f"{m['status']:10} {m['id']}  {m['where']:34} {m['mutation']}{note}")
    print()
    header = f"{'target':40} {'mutants':>7} {'killed':>6} {'survived':>8} {'equiv':>5} {'timeout':>7} {'ratio':>6} {'wall s':>7}"
    print(header)
    print("-" * len(header))
    for f in summary["files"]:
        print(f"{f['target']:40} {f['mutants']:7} {f['killed']:6} {f['survived']:8} {f['equivalent']:5} "
              f"{f['timeout']:7} {f['kill_ratio']:6.1%} {f['wall_seconds']:7.0f}")
    print(f"\nratio = (killed + timed out) / (mutants - equivalent); wall time {wall / 60:.1f} min")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/mutation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help="file or file::function (default: the safety-critical set)")
    parser.add_argument("--json", help="write every mutant's outcome and the per-file figures here")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tests", nargs="+", help="run these tests instead of the mapped ones")
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--show", metavar="ID", help="print one mutant as a diff and exit")
    parser.add_argument("--keep", action="store_true", help="keep the /tmp copies")
    parser.add_argument("--rev", help="test this commit (git archive) instead of the working tree, e.g. HEAD")
    args = parser.parse_args(argv)

    targets = [parse_target(t, ROOT, args.tests, args.rev) for t in (args.targets or DEFAULT_TARGETS)]
    equivalents = load_equivalents()
    if args.show or args.list:
        for target in targets:
            for m in target.mutants:
                if args.show and m.id == args.show:
                    print(f"{m.id} {m.where} {m.function} {m.operator}\n{show(m, ROOT, args.rev)}")
                    return 0
                if args.list:
                    mark = "  [equivalent]" if m.id in equivalents else ""
                    print(f"{m.id}  {m.where:34} {m.operator:8} {m.description}{mark}")
        return 0 if args.list else 1
    if args.only:
        for target in targets:
            target.mutants = [m for m in target.mutants if m.id in args.only]

    started = time.monotonic()
    space = Workspace(ROOT, max(1, args.workers), args.keep, args.rev)
    try:
        check_imports_from_copy(space.dirs[0])
        results: list[Result] = []
        for target in targets:
            if not target.mutants:
                continue
            for d in space.dirs:
                _forget_bytecode(d, target.path)
            if not target.tests:
                target.tests = tests_for(target.path, space.dirs[0])
            if not target.tests:
                raise SystemExit(f"none of the tests mapped to {target.path} exist")
            code, seconds, tail = run_tests(space.dirs[0], target.tests, None)
            if code != 0:
                print(f"{target.path}: its tests fail without any mutant (exit {code}):\n{tail}", file=sys.stderr)
                return 2
            target.baseline_seconds = seconds
            target.timeout = max(20.0, 3 * seconds + 10)
            todo = [m for m in target.mutants if m.id not in equivalents]
            results += [Result(m, EQUIVALENT, 0.0) for m in target.mutants if m.id in equivalents]
            print(f"{target.path}{'::' + target.function if target.function else ''}: {len(target.mutants)} mutants, "
                  f"tests {' '.join(target.tests)} ({seconds:.1f} s unmutated)", flush=True)
            target_started = time.monotonic()
            lock = threading.Lock()
            done = 0
            with ThreadPoolExecutor(max_workers=len(space.dirs)) as pool:
                futures = [pool.submit(run_mutant, space, target, m) for m in todo]
                for future in as_completed(futures):
                    result = future.result()
                    results.append(result)
                    with lock:
                        done += 1
                    if result.status != KILLED:
                        print(f"  {result.status:9} {result.mutant.id} {result.mutant.where} "
                              f"{result.mutant.description}", flush=True)
                    elif done % 25 == 0:
                        print(f"  ... {done}/{len(todo)}", flush=True)
            target.wall_seconds = time.monotonic() - target_started + seconds
    finally:
        space.close()
    wall = time.monotonic() - started
    results.sort(key=lambda r: (r.mutant.path, r.mutant.start, r.mutant.id))
    summary = summarize(targets, results, equivalents)
    summary["wall_seconds"] = round(wall, 1)
    print()
    print_report(summary, wall)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
