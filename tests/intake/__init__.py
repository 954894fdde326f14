"""Tests of node/intake: admission, mempool, intake journal."""
