"""The HTTP routes of an RPC: its ``google.api.http`` rule and the rule's additional bindings."""

from __future__ import annotations

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import MethodDescriptor


def http_rules(method: MethodDescriptor) -> list[tuple[str, str, str, str]]:
    """(verb, path, body, response_body) of the method's rule and of its additional bindings."""
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    top: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
    rules = []
    for rule in (top, *top.additional_bindings):
        verb = rule.WhichOneof("pattern")
        if verb is not None and verb != "custom":
            rules.append((verb.upper(), getattr(rule, verb), rule.body, rule.response_body))
    return rules
