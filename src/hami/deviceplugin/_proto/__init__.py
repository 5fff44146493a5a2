"""Generated gRPC/protobuf modules for the kubelet device-plugin API v1beta1.

`api.proto` here is our own statement of the wire contract; `api_pb2*.py(i)` are generated from
it by `scripts/gen_proto` and committed; `tests/unit/test_proto_current.py` keeps them current.
"""
