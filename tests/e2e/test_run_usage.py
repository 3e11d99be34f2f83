"""The runs' latency, tokens and cost over time (GetRunHistory's with_usage), on the real processes:
each charted run's records summed from its counters, or a slice's from its records; the SDK's
run_usage, `scorekeeper runs history --usage` and the runs page's usage charts show them; two runs
compared tell their latency and cost per record apart (`runs compare`, the compare page)."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from playwright.async_api import expect

from scorekeeper_sdk import AsyncScorekeeper, InvalidArgument, RecordIn, Scorekeeper
from scorekeeper_sdk.views import RunUsage
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.cli import scorekeeper
from tests.support.sdk_projects import qa_project

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)


async def test_each_runs_latency_tokens_and_cost_are_charted_beside_its_scores(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    rows = [{"question": f"q{i}", "answer": "yes", "lang": "fr" if i < 2 else "en"} for i in range(6)]
    qa = await qa_project(sk, "usage", rows)
    project, exact, cases = qa.project, qa.exact, qa.cases
    runs = []
    # Run 1: 100..600 ms, 10 + 5 tokens each, $0.01 a call on the four that report a cost. Run 2:
    # twice as slow, twice the tokens, $0.03 a call on every record.
    for slower, cost_every in ((1, 3), (2, 1)):
        run = await qa.run(sk)
        records = [
            RecordIn(
                cases[f"q{i}"],
                outputs={"response": "yes"},
                latency_ms=100.0 * (i + 1) * slower,
                prompt_tokens=10 * slower,
                completion_tokens=5 * slower,
                # run 1: every third record (q0, q3) reports no cost
                cost_usd=(0.01 if slower == 1 else 0.03) if cost_every == 1 or i % cost_every else None,
            )
            for i in range(6)
        ]
        await sk.ingest_records(run.id, records)
        await sk.wait_for_run(run.id, timeout_s=60)
        runs.append(run.id)

    usage = await sk.run_usage(project.id, ["exact"])
    assert [dataclasses.replace(u, cost_usd=round(u.cost_usd, 9)) for u in usage] == [
        RunUsage(runs[0], usage[0].created_at, 6, 350.0, 60, 30, 0.04, 4, 0.0, 350.0, 575.0, 595.0),
        RunUsage(runs[1], usage[1].created_at, 6, 700.0, 120, 60, 0.18, 6, 0.0, 700.0, 1150.0, 1190.0),
    ]
    assert usage[0].cost_per_record == pytest.approx(0.01) and usage[1].tokens_per_record == 30
    # The French slice: q0 and q1 (q0 reports no cost in run 1).
    french = await sk.run_usage(project.id, ["exact"], fields=["metadata.lang=fr"])
    assert [(u.records, u.latency_ms_mean, u.prompt_tokens, u.costed_records) for u in french] == [
        (2, 150.0, 20, 1),
        (2, 300.0, 40, 2),
    ]
    assert [u.cost_usd for u in french] == [pytest.approx(0.01), pytest.approx(0.06)]
    # Percentiles of the slice's own latencies: 100 and 200 ms, then 200 and 400.
    assert [(u.latency_p50_ms, u.latency_p95_ms) for u in french] == [(150.0, 195.0), (300.0, 390.0)]
    with pytest.raises(InvalidArgument, match=r"field must be metadata\.<key>"):
        await sk.run_usage(project.id, ["exact"], fields=["lang=fr"])

    printed = scorekeeper(stack, "--project", project.id, "runs", "history", "--metric", "exact", "--usage")
    assert printed.returncode == 0, printed.stderr
    out = " ".join(printed.stdout.split())
    assert "┃ exact ┃ latency ┃ p95 ┃ tokens/record ┃ cost/record ┃" in out, printed.stdout
    assert "│ 100.0% (6/6) │ 350 ms │ 575 ms │ 15 │ $0.0100 │" in out and "│ 700 ms │ 1,150 ms │ 30 │ $0.0300 │" in out
    assert "latency ▁█ 350 ms → 700 ms" in out and "p95 latency ▁█ 575 ms → 1,150 ms" in out
    assert "cost per record ▁█ $0.0100 → $0.0300" in out

    # Two runs compared: their latency and cost per record beside the metrics (of the whole runs).
    compared = scorekeeper(
        stack, "--project", project.id, "runs", "compare", runs[0], runs[1], "--field", "metadata.lang=fr"
    )
    assert compared.returncode == 0, compared.stderr
    # Of the slice's records: q0 and q1 (q0 reported no cost in run 1).
    assert (
        "usage of the slice: latency 150 ms → 300 ms (+100%) · p95 latency 195 ms → 390 ms (+100%)"
        " · tokens per record 15 → 30 (+100%) · cost per record $0.0100 → $0.0300 (+200%)"
        in " ".join(compared.stdout.split())
    ), compared.stdout
    as_json = scorekeeper(stack, "--project", project.id, "runs", "compare", runs[0], runs[1], "--json")
    listed = json.loads(as_json.stdout)
    assert (listed["baseline_usage"]["records"], listed["usage"]["latency_ms_mean"]) == (6, 700.0)
    assert listed["usage_changes"][0] == {
        "name": "latency",
        "baseline": 350.0,
        "value": 700.0,
        "unit": "ms",
        "change": 1.0,
    }

    # Per testcase: its latency in each run, the slower ones marked on the compare page.
    paired = await sk.compare_runs(runs[1], runs[0])
    latencies = {t.inputs["question"]: (t.baseline_latency_ms, t.latency_ms) for t in paired.testcases}
    assert latencies == {f"q{i}": (100.0 * (i + 1), 200.0 * (i + 1)) for i in range(6)}
    # The most slowed first (B - A: +600 ms for q5 ... +100 ms for q0), page by page; the other way
    # round, the most sped up first.
    slowed, token = [], ""
    while True:
        part = await sk.compare_runs(runs[1], runs[0], order_by="latency_delta desc", page_size=4, page_token=token)
        slowed += [t.inputs["question"] for t in part.testcases]
        if not (token := part.next_page_token):
            break
    assert slowed == ["q5", "q4", "q3", "q2", "q1", "q0"]
    sped = await sk.compare_runs(runs[0], runs[1], order_by="latency_delta")
    assert [t.inputs["question"] for t in sped.testcases] == ["q5", "q4", "q3", "q2", "q1", "q0"]
    # Every testcase, page after page, as an iterator; and from the sync client too.
    every = sk.compared_testcases(runs[1], runs[0], order_by="latency_delta desc", page_size=4)
    assert [t.inputs["question"] async for t in every] == slowed
    with Scorekeeper(
        f"grpc://{stack.orchestrator_grpc}", stack.admin_key, query_url=f"grpc://{stack.query_grpc}"
    ) as sync:
        listed_sync = sync.compared_testcases(runs[1], runs[0], order_by="latency_delta desc", page_size=2)
        assert [t.inputs["question"] for t in listed_sync] == slowed
    listed = scorekeeper(
        stack, "--project", project.id, "runs", "compare", runs[0], runs[1], "--order", "latency_delta desc",
        "--limit", "2",
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    lines = [" ".join(line.split()) for line in listed.stdout.splitlines() if "testcase " in line]
    assert [line.split(": ", 1)[1] for line in lines] == [
        "unchanged · latency 600 ms → 1,200 ms (+100%)",
        "unchanged · latency 500 ms → 1,000 ms (+100%)",
    ], listed.stdout
    assert "  2 of 6 testcases shown; --limit shows more" in listed.stdout.splitlines()
    wrong = scorekeeper(stack, "--project", project.id, "runs", "compare", runs[0], runs[1], "--order", "slowest")
    assert wrong.returncode != 0 and "order_by 'slowest' is not supported" in wrong.stderr

    # Side by side: what each whole run used, under its means.
    matrix = await sk.compare_run_matrix(runs)
    assert [(r.usage.records, r.usage.latency_ms_mean) for r in matrix.runs if r.usage] == [(6, 350.0), (6, 700.0)]
    side = scorekeeper(stack, "--project", project.id, "runs", "matrix", *runs)
    assert side.returncode == 0, side.stderr
    out = " ".join(side.stdout.split())
    assert "│ latency │ 350 ms │ 700 ms │" in out and "│ cost per record │ $0.0100 │ $0.0300 │" in out, side.stdout
    assert "│ p95 latency │ 575 ms │ 1,150 ms │" in out
    assert "judge cost" not in out  # no judge: a measure neither run has is left out

    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/compare/matrix?run={runs[0]}&run={runs[1]}")
        heads = [" ".join(t.split()) for t in await page.locator(".matrix-usage").all_inner_texts()]
        assert heads == [
            "latency 350 ms · p95 latency 575 ms · tokens per record 15 · cost per record $0.0100",
            "latency 700 ms · p95 latency 1,150 ms · tokens per record 30 · cost per record $0.0300",
        ]
        await screenshot(page, "matrix-usage")
        await page.goto(f"/projects/{project.id}/compare?baseline={runs[0]}&run={runs[1]}")
        card = " ".join((await page.locator("#usage-delta").inner_text()).split())
        assert card == (
            "Latency and cost whole runs latency: 350 ms → 700 ms +100% p95 latency: 575 ms → 1,150 ms +100%"
            " tokens per record: 15 → 30 +100% cost per record: $0.0100 → $0.0300 +200%"
        )
        await screenshot(page, "compare-usage")
        cells = [" ".join(t.split()) for t in await page.locator("#compare-table td.latency-change").all_inner_texts()]
        assert sorted(cells) == sorted(f"{100 * (i + 1)} ms → {200 * (i + 1):,} ms" for i in range(6))
        assert await page.locator("#compare-table td.latency-change b.worse").count() == 6  # twice as slow
        # The Latency heading orders by the change, the most slowed first; again, by testcase.
        await page.locator("#order-latency").click()
        await page.wait_for_url("**order=latency_delta+desc**")
        cells = [" ".join(t.split()) for t in await page.locator("#compare-table td.latency-change").all_inner_texts()]
        assert cells == [f"{100 * (6 - i)} ms → {200 * (6 - i):,} ms" for i in range(6)]
        assert await page.locator("#compare-order").input_value() == "latency_delta desc"
        await screenshot(page, "compare-most-slowed")
        await page.locator("#compare-order").select_option("latency_delta")  # the most sped up first
        await page.locator(".compare-pick button[type=submit]").click()
        await page.wait_for_url(lambda url: url.endswith("order=latency_delta"))
        cells = [" ".join(t.split()) for t in await page.locator("#compare-table td.latency-change").all_inner_texts()]
        assert cells[0] == "100 ms → 200 ms"
        await page.goto(f"/projects/{project.id}/compare?baseline={runs[0]}&run={runs[1]}&order=fastest")
        assert "order_by 'fastest' is not supported" in await page.locator("p.flash.error").inner_text()
        # Of a slice: its records' usage.
        await page.goto(f"/projects/{project.id}/compare?baseline={runs[0]}&run={runs[1]}&field=metadata.lang%3Dfr")
        card = " ".join((await page.locator("#usage-delta").inner_text()).split())
        assert card.startswith("Latency and cost of the slice latency: 150 ms → 300 ms +100%")
        await page.goto(f"/projects/{project.id}/runs?metric={exact.id}")
        # Each run's mean latency and cost per record in the list.
        used = [" ".join(t.split()) for t in await page.locator("#runs-table td.usage").all_inner_texts()]
        assert used == ["700 ms $0.0300 / record", "350 ms $0.0100 / record"]  # newest first
        assert await page.locator("#charts .chart-card").count() == 1
        await page.locator(".metric-picker summary").click()
        await page.locator("input[name=usage][type=checkbox]").click()
        await page.wait_for_url("**usage=1**")
        titles = [" ".join(t.split()) for t in await page.locator("#charts .chart-card header").all_inner_texts()]
        assert titles == [
            "exact pass rate %",
            "latency mean, ms",
            "p95 latency 95th percentile, ms",
            "tokens per record prompt + completion",
            "cost per record USD, of those with a cost",
        ]
        drawn = await page.evaluate("JSON.parse(document.getElementById('history-data').textContent)")
        assert [c["values"] for c in drawn["charts"][1:]] == [
            [350.0, 700.0],
            [575.0, 1150.0],
            [15.0, 30.0],
            [0.01, 0.03],
        ]
        await page.locator("[data-chart='3'] canvas").first.wait_for()
        await screenshot(page, "runs-history-usage")
        # A slice keeps the usage charts, counted over its records.
        await page.fill("#history-slice", "metadata.lang=fr")
        await page.press("#history-slice", "Enter")
        await page.wait_for_url("**field=metadata.lang%3Dfr**")
        drawn = await page.evaluate("JSON.parse(document.getElementById('history-data').textContent)")
        assert [c["values"] for c in drawn["charts"][1:]] == [
            [150.0, 300.0],
            [195.0, 390.0],
            [15.0, 30.0],
            [0.01, 0.03],
        ]
        # Its "every record" link keeps them too.
        await page.locator("#history-sliced a").click()
        await page.wait_for_url(lambda url: "field=" not in url and "usage=1" in url)
        assert await page.locator("#charts .chart-card").count() == 5


async def test_a_run_still_going_shows_its_latency_percentiles_so_far(stack: Stack, sk: AsyncScorekeeper) -> None:
    qa = await qa_project(sk, "so far", [{"question": f"q{i}", "answer": "yes"} for i in range(6)])
    run = await qa.run(sk)

    async def ingest(first: int, last: int) -> None:
        """Records first..last-1 sent, and stored (counted by ListRuns, which computes no percentiles:
        a GetRun meanwhile would memo those of the records stored so far)."""
        records = [
            RecordIn(qa.cases[f"q{i}"], outputs={"response": "yes"}, latency_ms=100.0 * (i + 1))
            for i in range(first, last)
        ]
        await sk.ingest_records(run.id, records)
        for _ in range(300):
            if (await anext(sk.list_runs(qa.project.id))).records == last:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"records {first}..{last - 1} were not stored")

    # Three of six records in: the run waits for the rest, its percentiles are of those three.
    await ingest(0, 3)
    going = await sk.get_run(run.id)
    assert going.status not in ("completed", "awaiting_human_scoring") and going.records == 3
    t = going.totals
    assert (t.latency_p50_ms, t.latency_p95_ms, t.latency_p99_ms, t.latency_live) == (200.0, 290.0, 298.0, True)
    listed = await anext(sk.list_runs(qa.project.id))
    assert (listed.id, listed.totals.latency_p50_ms) == (run.id, None)  # GetRun alone computes them
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{qa.project.id}/runs/{run.id}")
        said = " ".join((await page.locator("#latency-percentiles").inner_text()).split())
        assert said == "p50 200 ms · p95 290 ms · p99 298 ms so far"
    # More records: recomputed once the memo of 5 seconds has passed, not on every poll.
    await ingest(3, 5)
    assert (await sk.get_run(run.id)).totals.latency_p50_ms in (200.0, 300.0)
    await asyncio.sleep(5.2)
    later = (await sk.get_run(run.id)).totals
    assert (later.latency_p50_ms, later.latency_live) == (300.0, True)
    # Every record in: the percentiles kept on the run, no longer "so far".
    await sk.ingest_records(run.id, [RecordIn(qa.cases["q5"], outputs={"response": "yes"}, latency_ms=600.0)])
    done = await sk.wait_for_run(run.id, timeout_s=60)
    assert (done.totals.latency_p50_ms, done.totals.latency_p95_ms, done.totals.latency_live) == (350.0, 575.0, False)


async def test_records_are_found_and_ordered_by_what_they_used(stack: Stack, sk: AsyncScorekeeper) -> None:
    rows = [{"question": f"q{i}", "answer": "yes"} for i in range(6)]
    qa = await qa_project(sk, "records usage", rows)
    project, cases = qa.project, qa.cases
    # q0..q5: 500, 1,000 … 3,000 ms; 100, 200 … 600 tokens; q0 and q3 report no cost, the others
    # $0.001 × (i + 1).
    run = await qa.run(sk)
    await sk.ingest_records(
        run.id,
        [
            RecordIn(
                cases[f"q{i}"],
                outputs={"response": "yes"},
                latency_ms=500.0 * (i + 1),
                prompt_tokens=60 * (i + 1),
                completion_tokens=40 * (i + 1),
                cost_usd=None if i % 3 == 0 else 0.001 * (i + 1),
            )
            for i in range(6)
        ],
    )
    done = await sk.wait_for_run(run.id, timeout_s=60)
    totals = done.totals
    assert (totals.latency_p50_ms, totals.latency_p95_ms, totals.latency_p99_ms) == (1750.0, 2875.0, 2975.0)

    async def questions(**filters: object) -> list[str]:
        return [r.inputs["question"] async for r in sk.list_records(run.id, page_size=2, **filters)]  # type: ignore[arg-type]

    # Slower than 1.2 s and under 2.8 s: q2..q4 (a range is two conditions).
    assert await questions(usage=["latency_ms:gt:1200", "latency_ms:lt:2800"], order_by="latency_ms") == [
        "q2",
        "q3",
        "q4",
    ]
    assert await questions(usage=["tokens:gt:350"], order_by="tokens desc") == ["q5", "q4", "q3"]
    # The costliest first; those without a cost last (by id), and never above or below a cost.
    costliest, cheapest = await questions(order_by="cost_usd desc"), await questions(order_by="cost_usd")
    assert (costliest[:4], sorted(costliest[4:])) == (["q5", "q4", "q2", "q1"], ["q0", "q3"])
    assert (cheapest[:4], sorted(cheapest[4:])) == (["q1", "q2", "q4", "q5"], ["q0", "q3"])
    assert await questions(usage=["cost_usd:lt:0.004"], order_by="cost_usd") == ["q1", "q2"]
    with pytest.raises(InvalidArgument, match=r"usage condition 'latency:gt:5' is malformed"):
        await questions(usage=["latency:gt:5"])

    async with stack.http(stack.query_http, timeout=30) as http:
        listed = await http.get(
            f"/v1/projects/{project.id}/records", params={"usage": "cost_usd:gt:0.0045", "order_by": "cost_usd desc"}
        )
        assert listed.status_code == 200, listed.text
        assert [(r["inputs"]["question"], r["cost_usd"]) for r in listed.json()["records"]] == [
            ("q5", 0.006),
            ("q4", 0.005),
        ]
        refused = await http.get(f"/v1/runs/{run.id}/records", params={"usage": "tokens:gt:lots"})
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == "usage condition 'tokens:gt:lots': 'lots' is not a number"
        unordered = await http.get(f"/v1/runs/{run.id}/records", params={"order_by": "cost desc"})
        assert unordered.status_code == 400 and "use created_at, latency_ms, tokens, cost_usd" in unordered.text

    found = scorekeeper(
        stack, "--project", project.id, "records", "list", "--usage", "latency_ms:gt:1900", "--order", "cost_usd desc"
    )
    assert found.returncode == 0, found.stderr
    lines = [" ".join(line.split()) for line in found.stdout.splitlines() if "│" in line]
    assert [line.split("│")[3].strip() for line in lines] == ["q5", "q4", "q3"]
    assert lines[0].endswith("│ 3,000 ms │ 600 │ $0.0060 │") and lines[2].endswith("│ 2,000 ms │ 400 │ – │")
    exported = scorekeeper(stack, "--project", project.id, "records", "export", "--usage", "tokens:lt:250")
    assert exported.returncode == 0, exported.stderr
    assert len(exported.stdout.strip().splitlines()) == 3  # the header, q0 and q1
    wrong = scorekeeper(stack, "--project", project.id, "records", "list", "--usage", "latency_ms>2000")
    assert wrong.returncode != 0 and "usage condition 'latency_ms>2000' is malformed" in wrong.stderr

    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/runs/{run.id}")
        await page.locator("#records").get_by_label("Cost (USD) above").fill("0.0025")
        await page.locator("#records select[name=order]").select_option("cost_usd desc")
        await page.locator("#records button[type=submit]").click()
        await expect(page.locator("#records-table tbody tr")).to_have_count(3)
        heads = [" ".join(t.split()) for t in await page.locator("#records-table thead th").all_inner_texts()]
        assert heads[-3:] == ["Latency", "Tokens", "Cost"]
        cells = [
            [" ".join(c.split()) for c in await row.locator("td.num").all_inner_texts()]
            for row in await page.locator("#records-table tbody tr").all()
        ]
        assert cells == [["3,000 ms", "600", "$0.0060"], ["2,500 ms", "500", "$0.0050"], ["1,500 ms", "300", "$0.0030"]]
        await screenshot(page, "run-records-by-cost")
        # The run's latency percentiles open its slowest 5%: above the p95 of 2,875 ms, q5 alone.
        percentiles = page.locator("#latency-percentiles")
        assert " ".join((await percentiles.inner_text()).split()) == "p50 1,750 ms · p95 2,875 ms · p99 2,975 ms"
        await percentiles.get_by_role("link").click()
        await page.wait_for_url("**latency_ms_gt=2875**")
        await expect(page.locator("#records-table tbody tr")).to_have_count(1)
        assert "q5" in await page.locator("#records-table tbody tr").inner_text()
        # The Records page: the same bounds, with a bad one said and left out.
        await page.goto(f"/projects/{project.id}/records?latency_ms_lt=1200&tokens_gt=abc&order=tokens+desc")
        assert await page.locator("#records-table tbody tr").count() == 2
        assert (
            "Tokens above ignored: 'abc' is not a number."
            in await page.locator("#records-filters .flash.error").inner_text()
        )
        assert await page.get_by_label("Latency (ms) below").input_value() == "1200"
