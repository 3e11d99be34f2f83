"""The `scorekeeper` command as a user runs it against a stack: its address and admin key from the
environment, no saved config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shared.devstack.stack import Stack


def scorekeeper(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOREKEEPER_")}
    env |= {
        "SCOREKEEPER_URL": f"grpc://{stack.orchestrator_grpc}",
        "SCOREKEEPER_QUERY_URL": f"grpc://{stack.query_grpc}",
        "SCOREKEEPER_API_KEY": stack.admin_key,
        "SCOREKEEPER_CONFIG": os.devnull,
        "COLUMNS": "200",
    }
    command = [str(Path(sys.executable).parent / "scorekeeper"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
