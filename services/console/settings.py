"""The console's settings: where the APIs are, and how the sign-in cookie is kept."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.config import ServiceSettings


class ConsoleSettings(ServiceSettings):
    """console: the web pages; an edge that calls the orchestrator and the query service over gRPC."""

    http_port: int = 8084
    # gRPC addresses of the run-orchestrator (catalog, testsets, runs, keys) and the query service.
    orchestrator_grpc: str = "127.0.0.1:50051"
    query_grpc: str = "127.0.0.1:50052"
    # Signs the CSRF tokens of the forms (SCOREKEEPER_CONSOLE_SECRET). Empty: a random secret per
    # process, so forms rendered by a restarted or another replica are refused once; give every
    # replica the same secret.
    console_secret: SecretStr = SecretStr("")
    # Set the Secure flag on the cookies (behind HTTPS).
    cookie_secure: bool = False
    # Deadline of one unary API call made for a page.
    call_timeout_s: float = Field(default=15.0, gt=0)
    # Rows per page of the runs list, the records tables and the compare table.
    page_size: int = Field(default=25, ge=1, le=200)
