"""Operator procedures: what a bank's operator runs with the ``bakong`` CLI on its own node's files.

- ``init_node``  ``bakong init``: one bank's node directory: its key, a config with every key commented,
                 the join request for the central bank (AddPeer), the genesis and its sha256.
- ``backup``     ``bakong backup`` (online through the node's ``POST /v1/admin/backup``, or offline on a
                 stopped node's data) and ``bakong restore`` (into an empty data dir, verified, marked).
- ``migrate``    ``bakong migrate``: the data format migrations, from the store's version to this release's.
- ``cli``        ``register(sub)``: the argparse commands above, one line in ``node.cli.build_parser``.

docs/operations.md is the procedure each of these belongs to.

Rules for this wing: it works on a stopped or running node's data from outside the node process, so it
may import ``node.ledger``, ``storage``, ``node.config``, ``node.keyfile``, ``node.version`` and the API
client (``node.api.client``, to ask a running node), and nothing that runs a node: no asyncio servers,
no ``node.assembly``, ``p2p``, ``runtime`` or ``intake``. Nothing in the product imports it but
``node/cli.py`` (tests/test_layering.py).
"""
