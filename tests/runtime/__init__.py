"""Tests of node/runtime: consensus driver, safety store, Byzantine test modes."""
