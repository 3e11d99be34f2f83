"""A deterministic demo LLM judge behind POST /v1/chat/completions (the OpenAI protocol), so that
``make demo`` shows an AI metric end to end without a paid provider.

It reads a Scorekeeper judge prompt the way a model would: the data nonce from the system
message, the ``<data-NONCE>`` blocks from the user message, the verdict schema from
``response_format`` or the one tool offered. Its judgement is simple and repeatable: the answer
(the last block) passes when it contains the reference (the block before it), case-insensitively.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

_NONCE = re.compile(r"<data-([0-9a-f]{16})>")


@dataclass(frozen=True)
class JudgePrompt:
    instructions: str  # every system / user text outside the data blocks
    blocks: list[str]  # the data blocks of the user messages, in order
    score_type: str  # "boolean" | "integer" | "number"
    tool_name: str | None  # set when the verdict is asked for as a tool call


def read_prompt(body: dict[str, Any]) -> JudgePrompt:
    """ValueError when the request is not a Scorekeeper judge prompt."""
    messages = body.get("messages") or []
    if not messages or not isinstance(messages[0].get("content"), str):
        raise ValueError("expected a system message first")
    nonce = _NONCE.search(messages[0]["content"])
    if nonce is None:
        raise ValueError("the system message names no data nonce")
    block = re.compile(rf"<data-{nonce.group(1)}>\n(.*?)\n</data-{nonce.group(1)}>", re.DOTALL)
    prompts = [m["content"] for m in messages if m.get("role") in ("system", "user") and isinstance(m["content"], str)]
    tools = body.get("tools")
    try:
        if tools:
            schema, tool_name = tools[0]["function"]["parameters"], tools[0]["function"]["name"]
        else:
            schema, tool_name = body["response_format"]["json_schema"]["schema"], None
        score_type = schema["properties"]["score"]["type"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("the request asks for no verdict schema") from None
    return JudgePrompt(
        instructions="\n".join(block.sub("", text) for text in prompts),
        blocks=[b for text in prompts[1:] for b in block.findall(text)],
        score_type=score_type,
        tool_name=tool_name,
    )


def judge(prompt: JudgePrompt) -> tuple[bool, str]:
    """(passes, reasoning): the last block contains the first string of the one before it."""
    if len(prompt.blocks) < 2:
        return False, "There is nothing to compare."
    reference, answer = first_string(prompt.blocks[-2]), first_string(prompt.blocks[-1])
    good = bool(reference) and reference.casefold() in answer.casefold()
    return good, f"The answer {'states' if good else 'does not state'} {reference!r}."


def verdict_json(prompt: JudgePrompt, good: bool, reasoning: str) -> str:
    score: bool | int | float
    if prompt.score_type == "boolean":
        score = good
    elif prompt.score_type == "integer":
        score = 5 if good else 1
    else:
        score = 1.0 if good else 0.0
    return json.dumps({"reasoning": reasoning, "score": score})


def completion(body: dict[str, Any]) -> dict[str, Any]:
    """The chat completion answering a judge prompt; ValueError for any other request."""
    prompt = read_prompt(body)
    text = verdict_json(prompt, *judge(prompt))
    message: dict[str, Any] = {"role": "assistant", "content": None if prompt.tool_name else text}
    if prompt.tool_name:
        message["tool_calls"] = [
            {"id": "call_demo", "type": "function", "function": {"name": prompt.tool_name, "arguments": text}}
        ]
    prompt_tokens = max(1, len(json.dumps(body.get("messages", []))) // 4)
    completion_tokens = max(1, len(text) // 4)
    return {
        "id": "chatcmpl-demo",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model", "demo-judge")),
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if prompt.tool_name else "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def first_string(text: str) -> str:
    """The first string in a JSON block ({"answer": "Paris"} → "Paris"); the text if not JSON."""
    try:
        value: Any = json.loads(text)
    except ValueError:
        return text
    while isinstance(value, dict | list) and value:
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
    return value if isinstance(value, str) else json.dumps(value)
