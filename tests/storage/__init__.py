"""Tests of storage/ (LevelDB, atomic commit, head record) under the ledger."""
