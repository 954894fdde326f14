"""Tests of node/api: the HTTP API under hostile input and connection floods."""
