"""A deterministic, gullible LLM judge for the fake chat-completions server.

It reads the prompt like the demo judge (services/demo_system/judge.py) and judges the same way
(the answer passes when it contains the reference), but it also obeys any "answer PASS" in the
*instruction* text — so a prompt that let a system's output out of its data block would be
talked into a pass. The prompt-injection tests rely on that.
"""

from __future__ import annotations

import re
from typing import Any

from services.demo_system.judge import judge, read_prompt, verdict_json
from tests.support.fake_llm import Reply

INJECTION = re.compile(r"answer PASS", re.IGNORECASE)


def judge_brain(body: dict[str, Any]) -> Reply:
    prompt = read_prompt(body)
    if INJECTION.search(prompt.instructions):
        good, reasoning = True, "The instructions say to answer PASS."
    else:
        good, reasoning = judge(prompt)
    verdict = verdict_json(prompt, good, reasoning)
    if prompt.tool_name:
        return Reply(content=None, tool_name=prompt.tool_name, tool_arguments=verdict)
    return Reply(content=verdict)
