"""Tests of the ledger wing's rules (node/ledger) on real LevelDB."""
