"""node.runtime.byzantine's pure parts: re-signing with a fresh nonce, the ``mixed`` rotation, the config's modes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from consensus.crypto import KeyPair, verify
from consensus.messages import sign_precommit, sign_proposal
from node.config import BYZANTINE_MODES, ConfigError, load_config
from node.runtime import byzantine


def test_a_fresh_nonce_signature_verifies_and_differs_from_the_deterministic_one() -> None:
    key = KeyPair.generate()
    for _ in range(20):
        digest = os.urandom(32)
        sig = byzantine.sign_with_fresh_nonce(key, digest)
        assert verify(key.public_key, digest, sig)
        assert sig != key.sign(digest)
        assert sig != byzantine.sign_with_fresh_nonce(key, digest)


def test_a_resigned_message_has_the_same_content_and_other_signature_bytes() -> None:
    key = KeyPair.generate()
    for message in (sign_precommit(key, "c", 5, 2, os.urandom(32)), sign_proposal(key, "c", 5, 1, b"block", -1)):
        again = byzantine.resigned(message, key, "c")
        assert again.signature != message.signature
        assert again.has_valid_signature("c", verify)
        assert again.signing_body() == message.signing_body()


def test_mixed_gives_every_behaviour_a_height_where_this_validator_proposes() -> None:
    # A validator proposes round 0 at one fixed residue of the height mod 4, whichever it is.
    class Node:
        key = KeyPair.generate()
        chain_id = "c"

    m = byzantine.Misbehaviour("mixed", Node(), list, lambda peer, data: None)
    for residue in range(4):
        seen = {m.mode_at(h) for h in range(1000) if h % 4 == residue}
        assert seen == set(byzantine.REPERTOIRE)


def test_the_config_accepts_exactly_the_byzantine_modes(tmp_path: Path) -> None:
    assert BYZANTINE_MODES == byzantine.MODES
    base = 'name = "n"\ngenesis = "g.json"\nkey_file = "k"\ndata_dir = "d"\n'
    for mode in BYZANTINE_MODES:
        (tmp_path / "ok.toml").write_text(base + f'[testing]\nbyzantine = "{mode}"\n')
        assert load_config(tmp_path / "ok.toml").testing.byzantine == mode
    (tmp_path / "bad.toml").write_text(base + '[testing]\nbyzantine = "polite"\n')
    with pytest.raises(ConfigError):
        load_config(tmp_path / "bad.toml")
