"""The README's "Use it from Python" and "Use it in CI" sections, run as written against the real
services (only the stack's ports and admin key file are put in place of the documented ones)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.devstack.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

ROOT = Path(__file__).resolve().parents[2]


def blocks(section: str, language: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", body, flags=re.S)


def test_the_readme_python_and_ci_sections_work_as_written(stack: Stack, tmp_path: Path) -> None:
    orchestrator, query = f"grpc://{stack.orchestrator_grpc}", f"grpc://{stack.query_grpc}"
    key_file = stack.config.data_dir / "admin-key"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SCOREKEEPER_")},
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "SCOREKEEPER_CONFIG": str(tmp_path / "config.toml"),
        "COLUMNS": "200",
    }

    def local(text: str) -> str:
        return (
            text.replace("grpc://127.0.0.1:50051", orchestrator)
            .replace("grpc://127.0.0.1:50052", query)
            .replace(".scorekeeper/up/admin-key", str(key_file))
        )

    setup, python_example = blocks("Use it from Python", "bash")[0], blocks("Use it from Python", "python")[0]
    assert "export SCOREKEEPER_URL=grpc://127.0.0.1:50051 SCOREKEEPER_QUERY_URL=grpc://127.0.0.1:50052" in setup
    python_env = {
        **env,
        "SCOREKEEPER_URL": orchestrator,
        "SCOREKEEPER_QUERY_URL": query,
        "SCOREKEEPER_API_KEY": key_file.read_text().strip(),
    }
    ran = subprocess.run(
        [sys.executable, "-c", python_example],
        env=python_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].startswith("completed ") and lines[1:] == ["right capital 1.0 2/2", "one word 1.0 2/2"]

    script = "\n".join(local(block) for block in blocks("Use it in CI", "bash"))
    cli = subprocess.run(["bash", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    out = cli.stdout
    assert "imported 2 testcases into 'qa'" in out and "Capital of France?" in out  # testsets show --search
    assert (tmp_path / "qa-copy.csv").read_text().splitlines()[1:] == ["What is 2 + 2?,4", "Capital of France?,Paris"]
    assert "pass  right capital: pass rate 100.0% >= 90.0%" in out and "exit code 0" in out
    assert "pass  concise: pass rate 100.0% >= 100.0%" in out
    assert (tmp_path / "junit.xml").exists() and "Scorekeeper evaluation passed" in (
        tmp_path / "summary.md"
    ).read_text()
    assert re.search(r"^previous run: ", out, re.MULTILINE)  # runs show
    assert re.search(r"^\d+ runs, oldest first\n", out, re.MULTILINE)  # runs history
    assert re.search(r"^right capital  [▁-█ ]+  [\d.]+% → 100\.0%$", out, re.MULTILINE)
    assert re.search(r"^\d+ runs, oldest first, the records with inputs\.country=France$", out, re.MULTILINE)
    assert "re-scoring with right capital" in out and len((tmp_path / "run.csv").read_text().splitlines()) == 4
    assert re.search(r"key sk_\w+ 'nightly ci': role write, project ", out)
    assert re.search(r"revoked key sk_\w+ 'nightly ci' \(write\)", out)


def test_the_readme_curl_walkthrough_works_as_written(stack: Stack, tmp_path: Path) -> None:
    """ "Using it": the bash block, with the stack's ports and admin key file for `make up`'s."""
    block = blocks("Using it", "bash")[0]
    for documented in ("http://127.0.0.1:8080", "http://127.0.0.1:8081", "http://127.0.0.1:8090/answer"):
        assert documented in block
    script = (
        block.replace("http://127.0.0.1:8080", stack.orchestrator_http)
        .replace("http://127.0.0.1:8081", stack.query_http)
        .replace("http://127.0.0.1:8090/answer", stack.demo_system_url)
        .replace(".scorekeeper/up/admin-key", str(stack.config.data_dir / "admin-key"))
    )
    ran = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    # The two reads the block ends with: the run, then a page of its records.
    decoder = json.JSONDecoder()
    run, end = decoder.raw_decode(ran.stdout.lstrip())
    page, _ = decoder.raw_decode(ran.stdout.lstrip()[end:].lstrip())
    assert (run["status"], run["records"], run["scores"]) == ("completed", 1, 1)
    assert [(m["name"], m["passed"], m["scored"]) for m in run["metrics"]] == [("exact", 1, 1)]
    (record,) = page["records"]
    assert record["inputs"] == {"question": "What is 2 + 2?"} and record["outputs"] == {"response": "4"}
    assert [(s["status"], s["passed"]) for s in record["scores"]] == [("completed", True)]
