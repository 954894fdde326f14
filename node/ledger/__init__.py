"""The ledger's rules: what a transaction, a block and the world state are, and how a block changes it.

Rules for this wing:
- pure and synchronous: no asyncio, aiohttp, sockets, threads or subprocesses; the caller owns time
  (``now_ms`` is an argument) and concurrency (one thread mutates the ledger);
- imports ``consensus`` (codec, crypto), ``storage`` and its own modules only, never another wing;
- deterministic: the same blocks applied to the same state give the same state root everywhere.
"""
