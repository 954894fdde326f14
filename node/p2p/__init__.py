"""Node to node: encrypted, authenticated links (frames, handshake, link, transport), the peer
messages, and what travels on them: the network's routing, transaction gossip and block sync.

Rules for this wing: imports ``node.ledger``, ``node.intake`` and the shared leaves (``metrics``,
``config``); never ``runtime``, ``api``, ``tools`` or the composition root. Collaborators arrive as
narrow, typed objects or callbacks (see each class's constructor), never the whole node.
"""
