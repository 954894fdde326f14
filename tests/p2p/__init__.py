"""Tests of node/p2p: transport, gossip, block sync."""
