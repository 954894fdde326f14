"""Torii: Iroha 1's gRPC API (CommandService_v1, QueryService_v1), so Iroha clients work against the node.

``endpoint_pb2_grpc`` holds the service stubs generated from node/ledger/iroha_proto/endpoint.proto by
./scripts/gen-proto (the messages they carry are node.ledger.iroha_proto's ``*_pb2`` modules). They
are kept out of the ledger because they import grpc; the servicers that answer them belong here.
"""
