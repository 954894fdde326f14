"""BFT consensus (Tendermint's algorithm) as a pure, deterministic state machine, plus its simulator.

Rules for everything in this package except ``consensus.sim``:
- no I/O: no asyncio, sockets, files, clocks or randomness. Time arrives as an argument (``now``),
  messages arrive as events, and the engine answers with actions for the caller to carry out;
- no imports of ``node`` or ``storage``: blocks are opaque values with a hash, and whether one is
  valid is an answer supplied from outside;
- deterministic: the same events in the same order give the same actions on every machine.
The node's asyncio runtime and the simulator drive the same engine.
"""
