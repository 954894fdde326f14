"""Iroha 1.6's wire schema (package ``iroha.protocol``): our .proto files and the code generated from them.

The ``*_pb2`` modules are protobuf message classes only, data without I/O, so the ledger may import
them to read Iroha transactions, queries and blocks. The gRPC service stubs generated from
endpoint.proto import grpc and live in node/api/torii. Edit the .proto files and run
./scripts/gen-proto; never edit the generated modules (GENERATED.md records the generator versions).
"""
