"""The node: everything outside the sans-IO consensus engine."""

from node import packing as _packing  # noqa: F401  (installs the per-thread packer into consensus.codec)
