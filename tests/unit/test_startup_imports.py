"""What a process loads when it starts: the heavy libraries only some of its work needs (openai's
types, numpy and scipy: ~1.7 s of CPU together) wait for that work, so a replica is ready sooner."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("openai", "scipy", "numpy")
WATCHED = [*HEAVY, "grpc"]


def _loaded(module: str) -> dict[str, bool]:
    code = f"import sys, json, {module}; print(json.dumps({{m: m in sys.modules for m in {WATCHED!r}}}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("service", ["run_orchestrator", "system_executor", "scorer", "query"])
def test_a_service_starts_without_openai_numpy_or_scipy(service: str) -> None:
    loaded = _loaded(f"services.{service}.app")
    assert {m: loaded[m] for m in HEAVY} == dict.fromkeys(HEAVY, False)


def test_an_application_tracing_with_the_sdk_does_not_load_the_grpc_client() -> None:
    assert _loaded("scorekeeper_sdk.tracing") == dict.fromkeys(WATCHED, False)


def test_the_statistics_and_the_llm_gateway_load_them_when_used() -> None:
    code = (
        "import sys; from shared.scoring import stats; from shared.llm import gateway; "
        "assert 'scipy' not in sys.modules and 'openai' not in sys.modules; "
        "stats.paired_difference('float', 3, 0.5, 0.1, 2, 1); "
        "from shared.llm.failures import classify; classify(ValueError(), timeout_s=1, secret=None); "
        "print('scipy' in sys.modules, 'openai' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.split() == ["True", "True"]
