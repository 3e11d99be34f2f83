"""OTLP over gRPC: OpenTelemetry's own trace service, answered by IngestTraces.

An application traced with OpenTelemetry whose exporter speaks gRPC (``OTEL_EXPORTER_OTLP_PROTOCOL
=grpc``, the default of Python's ``opentelemetry-instrument``) points it at the orchestrator's gRPC
port. The call is IngestTraces under another name: the same key and role (write), the same checks
and answers. A project key's project takes the spans; an instance admin key names the project in
the ``x-scorekeeper-project`` metadata (a project key naming another project is refused as
IngestTraces refuses it: NOT_FOUND).
"""

from __future__ import annotations

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from scorekeeper.v1 import monitors_pb2 as pb

from shared.auth.access import current_principal
from shared.auth.guard import Guard
from shared.edge.api import BoundMethod
from shared.edge.errors import ApiError, invalid
from shared.edge.grpc_metadata import authorization, client, metadata

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
# The bound method that answers it.
ANSWERED_BY = "IngestTraces"
PROJECT_HEADER = "x-scorekeeper-project"


def handler(ingest: BoundMethod, guard: Guard) -> grpc.GenericRpcHandler:
    """TraceService/Export as a generic handler: the request's bytes become IngestTraces' ``otlp``;
    the answer is OTLP's (empty: success; spans kept for their root are not rejected ones)."""

    async def export(data: bytes, context: grpc.aio.ServicerContext) -> bytes:
        async def read_request() -> pb.IngestTracesRequest:
            principal = current_principal.get()
            named = metadata(context, PROJECT_HEADER)
            project = named or (str(principal.project_id) if principal and principal.project_id else "")
            if not project:
                raise invalid(
                    f"an instance admin key names the project: add {PROJECT_HEADER}=<project id> "
                    "to the exporter's headers (OTEL_EXPORTER_OTLP_TRACES_HEADERS)"
                )
            return pb.IngestTracesRequest(project_id=project, otlp=data)

        try:
            request = await ingest.admit(guard, authorization(context), read_request, client=client(context))
            await ingest.call(request, context.time_remaining())
        except ApiError as exc:
            await context.abort(exc.code.grpc, exc.message)
        return ExportTraceServiceResponse().SerializeToString()

    method = grpc.unary_unary_rpc_method_handler(export)  # bytes in, bytes out
    return grpc.method_handlers_generic_handler(SERVICE, {"Export": method})
