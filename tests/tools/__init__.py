"""Tests of node/tools: benchmarks and the chaos campaign's invariants."""
