"""One load process of ``make bench-monitor``: an application logging production calls through
the SDK's ``client.log(…)`` at a steady rate, as a web service would on its request path.

Prints one JSON line when done: calls logged, sent, dropped, how long the slowest ``log()`` took,
and the CPU this process used.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from array import array

from scorekeeper_sdk import LogOptions, Scorekeeper
from tests.bench.latency import percentile


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--rate", type=float, required=True, help="calls per second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    total = int(args.rate * args.seconds)
    options = LogOptions(max_buffer=max(10_000, int(args.rate * 10)), close_timeout_s=120)
    durations = array("d")
    with Scorekeeper(args.url, args.key, project=args.project, log_options=options) as sk:
        sys.stdout.write(json.dumps({"ready": True}) + "\n")
        sys.stdout.flush()
        started = time.perf_counter()
        logged = 0
        while logged < total:
            due = min(total, int((time.perf_counter() - started) * args.rate))
            while logged < due:
                n = args.seed + logged
                before = time.perf_counter()
                sk.log(
                    {"question": f"What is the capital of country {n}?", "user": f"u{n % 97}"},
                    {"response": "Please find it: Paris" if n % 5 else "no idea", "finish_reason": "stop"},
                    metadata={"route": "checkout" if n % 2 else "search", "model": "bot-1", "n": n},
                    latency_ms=float(80 + n % 400),
                    prompt_tokens=40 + n % 20,
                    completion_tokens=8 + n % 5,
                    cost_usd=0.00012,
                    trace_id=f"trace-{n}",
                )
                durations.append(time.perf_counter() - before)
                logged += 1
            time.sleep(0.005)
        logging_s = time.perf_counter() - started
        flushed = sk.flush(300)
        sent_s = time.perf_counter() - started
        stats = sk.log_stats()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = {
        "logged": stats.logged,
        "sent": stats.sent,
        "dropped": stats.dropped,
        "flushed": flushed,
        "logging_s": logging_s,
        "sent_s": sent_s,
        "log_ms": {q: percentile(durations, q) * 1000 for q in (50, 99, 99.9, 100)},
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "last_error": stats.last_error,
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
