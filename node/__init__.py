"""The node: everything outside the sans-IO consensus engine and the storage layer, in wings.

- ``ledger/``   the rules: ids, typed records, commands, transactions, permissions, execution, state,
                queries, blocks, genesis, the chain. Pure: no asyncio, sockets or threads.
- ``intake/``   before a block: the one admission pipeline, the mempool, the intake journal, statuses.
- ``p2p/``      node to node: frames, handshake, link, transport, messages, network, gossip, block sync.
- ``runtime/``  the consensus driver around ``consensus/``, the safety store, the signing guard, readiness,
                the faults seam for tests.
- ``api/``      the HTTP API, its listener, operator-route access, and the client library.
- ``ops/``      operator procedures (init, backup, restore, migrate); only ``cli`` imports it.
- ``tools/``    testnet, demo, benchmarks, chaos: developer tooling; only ``cli`` and tests import it.
- ``assembly``  the composition root: builds one node from the wings and owns the commit fan-out.
- ``cli`` (with ``key_cli``, ``config_command``), ``config``, ``config_reference``, ``keyfile``, ``signer``,
  ``metrics``, ``logs``, ``version``, ``packing``, ``clock``: the entry point and shared leaves.

Importing this package has no side effects: entry points call ``node.packing.install()``.
"""
