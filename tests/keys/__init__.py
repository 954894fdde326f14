"""Tests of key custody: key files, passphrases, the key commands, a node with an encrypted key."""
