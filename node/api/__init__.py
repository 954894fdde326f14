"""The HTTP API a bank's systems and customers' apps call, its connection-limited listener, and the
client library the CLI and tools use.

Rules for this wing: handlers do HTTP only (parse, call a collaborator, map typed errors to status
codes); admission goes through ``node.intake``, answers come from ``node.ledger``. Never imports
``p2p``, ``tools`` or the composition root: what it shows of the network arrives as a narrow view.
"""
