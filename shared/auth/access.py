"""Roles, the role each RPC needs (from the proto's ``required_role`` option), and who is calling."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

from google.protobuf.descriptor import MethodDescriptor
from scorekeeper.v1 import access_pb2


class Role(IntEnum):
    """Ordered: a role allows everything the roles below it allow."""

    READ = access_pb2.ROLE_READ
    WRITE = access_pb2.ROLE_WRITE
    ADMIN = access_pb2.ROLE_ADMIN
    INSTANCE_ADMIN = access_pb2.ROLE_INSTANCE_ADMIN

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        """A role a project key may have; ValueError naming the choices otherwise."""
        for role in (cls.READ, cls.WRITE, cls.ADMIN):
            if text == role.label:
                return role
        raise ValueError(f"role must be one of read, write, admin, got {text!r}")


def required_role(method: MethodDescriptor) -> Role:
    """The role an RPC needs; TypeError for an RPC that names none (every RPC must)."""
    options = method.GetOptions()
    extension: Any = access_pb2.required_role
    value = options.Extensions[extension] if options.HasExtension(extension) else 0
    if value == access_pb2.ROLE_UNSPECIFIED:
        raise TypeError(f"{method.full_name} has no (scorekeeper.v1.required_role) option")
    return Role(value)


@dataclass(frozen=True)
class Principal:
    """The key a call is made with."""

    key_id: uuid.UUID | None  # None for SCOREKEEPER_ADMIN_KEY, which has no row
    project_id: uuid.UUID | None  # None for the instance admin
    role: Role
    prefix: str
    name: str
    expires_at: datetime | None = None  # None: the key never expires

    def allows(self, role: Role) -> bool:
        return self.role >= role


# The caller of the operation in progress, set by the edge before the operation runs.
current_principal: ContextVar[Principal | None] = ContextVar("current_principal", default=None)


def caller() -> Principal:
    """The principal of the call in progress (operations run only after the edge admitted one)."""
    principal = current_principal.get()
    if principal is None:
        raise RuntimeError("no principal: the operation ran outside an admitted call")
    return principal
