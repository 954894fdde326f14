"""Before a block: admitting transactions (one pipeline for the API, gossip and journal restore), the
mempool that holds them, the intake journal that keeps accepted ones across a crash, and statuses.

Rules for this wing: imports ``node.ledger`` (and consensus/storage through it), never ``p2p``,
``runtime``, ``api`` or ``tools``; no sockets. asyncio only for status subscribers' queues.
"""
