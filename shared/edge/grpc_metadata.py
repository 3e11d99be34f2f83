"""What a gRPC call's metadata says: its key, its client."""

from __future__ import annotations

import grpc

from shared.auth.audit import CLIENT_HEADER, client_of


def metadata(context: grpc.aio.ServicerContext, name: str) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == name:
            return value if isinstance(value, str) else value.decode(errors="replace")
    return None


def authorization(context: grpc.aio.ServicerContext) -> str | None:
    return metadata(context, "authorization")


def client(context: grpc.aio.ServicerContext) -> str:
    return client_of(metadata(context, CLIENT_HEADER), metadata(context, "user-agent"))
