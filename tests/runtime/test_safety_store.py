"""The validator's safety record file: the newest intact record survives restarts and torn writes."""

from __future__ import annotations

import os
from pathlib import Path

from consensus.messages import Step
from consensus.safety import SafetyRecord
from node.runtime.safety_store import SafetyFile


def test_nothing_stored_loads_none(tmp_path: Path) -> None:
    assert SafetyFile(tmp_path).load() is None


def test_the_newest_record_survives_a_reopen(tmp_path: Path) -> None:
    store = SafetyFile(tmp_path)
    for i in range(5):
        store.store(b"record %d" % i + b"x" * (1000 - 100 * i))  # shrinking records: stale tails are ignored
    store.close()
    reopened = SafetyFile(tmp_path)
    assert reopened.load() == b"record 4" + b"x" * 600
    reopened.store(b"record 5")
    reopened.close()
    assert SafetyFile(tmp_path).load() == b"record 5"


def test_a_torn_write_leaves_the_record_before_it(tmp_path: Path) -> None:
    store = SafetyFile(tmp_path)
    store.store(b"first" * 100)
    store.store(b"second" * 100)  # went to the other slot
    store.close()
    newest = next(p for p in (tmp_path / "safety.a", tmp_path / "safety.b") if b"second" in p.read_bytes())
    data = bytearray(newest.read_bytes())
    data[200] ^= 0xFF  # the crash hit the middle of the newest write
    newest.write_bytes(bytes(data))
    assert SafetyFile(tmp_path).load() == b"first" * 100


def test_a_truncated_slot_is_ignored(tmp_path: Path) -> None:
    store = SafetyFile(tmp_path)
    store.store(b"only")
    store.close()
    for name in ("safety.a", "safety.b"):
        os.truncate(tmp_path / name, 10)
    assert SafetyFile(tmp_path).load() is None


def test_an_engine_record_round_trips(tmp_path: Path) -> None:
    record = SafetyRecord(7, 2, Step.PRECOMMIT, 1, b"\x01" * 32, 1, b"\x02" * 32, ())
    store = SafetyFile(tmp_path)
    store.store(record.encode())
    store.close()
    loaded = SafetyFile(tmp_path).load()
    assert loaded is not None and SafetyRecord.decode(loaded) == record
