"""AsyncScorekeeper and Scorekeeper: the same operations, awaited or called.

The operations are written once, async, in ``scorekeeper_sdk.api``. The sync client runs an
AsyncScorekeeper on an event loop of its own in a daemon thread and blocks on each call, so it
works the same in scripts, notebooks (whose loop is already running) and threads.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import threading
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from scorekeeper_sdk.api.calls import CallOperations, FeedbackIn, FeedbackResult
from scorekeeper_sdk.api.catalog import CatalogOperations
from scorekeeper_sdk.api.monitors import CallIn, MonitorOperations
from scorekeeper_sdk.api.playground import PlaygroundOperations
from scorekeeper_sdk.api.reviews import ReviewOperations
from scorekeeper_sdk.api.runs import RunOperations
from scorekeeper_sdk.api.schedules import ScheduleOperations
from scorekeeper_sdk.api.testsets import TestsetOperations
from scorekeeper_sdk.api.webhooks import WebhookOperations
from scorekeeper_sdk.call_log import CallLog, LogOptions, LogStats
from scorekeeper_sdk.config import Settings, resolve
from scorekeeper_sdk.tracing import Span, steps_of
from scorekeeper_sdk.transport import RetryPolicy, Transport

P = ParamSpec("P")
T = TypeVar("T")
C = TypeVar("C", bound="_Descriptor")


class AsyncScorekeeper(
    CatalogOperations,
    TestsetOperations,
    RunOperations,
    ReviewOperations,
    PlaygroundOperations,
    MonitorOperations,
    CallOperations,
    ScheduleOperations,
    WebhookOperations,
):
    """Async client of a Scorekeeper instance: ``async with AsyncScorekeeper() as sk: await sk.get_run(…)``.

    ``url`` / ``api_key`` / ``query_url`` default to SCOREKEEPER_URL / SCOREKEEPER_API_KEY /
    SCOREKEEPER_QUERY_URL, then to the file ``scorekeeper login`` wrote (see ``config.py``).
    Failures raise the exceptions of ``scorekeeper_sdk.errors``; UNAVAILABLE is retried with
    jittered backoff (``retry``).
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        query_url: str | None = None,
        project: str | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        settings: Settings | None = None,
        log_options: LogOptions | None = None,
    ) -> None:
        self.settings = settings or resolve(url, api_key, query_url=query_url, project=project, timeout_s=timeout_s)
        self._transport = Transport(self.settings, retry)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._calls = CallLog(self._send_calls, self._log_project, log_options)

    def log(
        self,
        inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        *,
        metadata: dict[str, Any] | None = None,
        latency_ms: float = 0.0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float | None = None,
        trace_id: str = "",
        session_id: str = "",
        status: str = "completed",
        error: str = "",
        call_id: str | None = None,
        project_id: str = "",
        spans: Sequence[Span | dict[str, Any]] = (),
    ) -> str:
        """Logs one production call in the background and returns its call id at once; never waits
        and never raises (see ``scorekeeper_sdk.call_log``). Monitors of the project (``project_id``,
        else the client's project, else the key's) sample it. Call it on the client's event loop,
        or from any thread once the client has logged or made a call on its loop. ``spans``: the
        call's steps (``scorekeeper_sdk.trace``'s ``spans``), shown with it."""
        call_id = call_id or str(uuid.uuid4())
        try:
            steps = steps_of(list(spans))
        except ValueError as exc:
            self._calls.refuse(f"log() was given spans it cannot send: {exc}")
            return call_id
        call = CallIn(
            inputs=inputs,
            outputs=outputs,
            metadata=metadata,
            latency_ms=latency_ms,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost_usd,
            trace_id=trace_id,
            session_id=session_id,
            status=status,
            error=error,
            call_id=call_id,
            spans=steps,
        )
        loop = self._loop
        if loop is None:
            try:
                loop = self._loop = asyncio.get_running_loop()
            except RuntimeError:
                self._calls.refuse("log() was called outside the client's event loop before any call on it")
                return call.call_id
        self._calls.add(call, loop, project_id)
        return call.call_id

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Sends the calls logged so far; True once none is pending, False at the timeout."""
        return await self._calls.flush(timeout_s)

    async def send_feedback_batch(self, feedback: Sequence[FeedbackIn], *, project_id: str = "") -> FeedbackResult:
        """Up to 1,000 verdicts in one request, checked whole: one bad item refuses them all. Calls
        this client logged and still holds are sent first, so feedback may follow ``log`` at once."""
        if self._calls.stats().pending:
            await self.flush(self.settings.timeout_s)
        return await super().send_feedback_batch(feedback, project_id=project_id)

    async def _default_project(self) -> str:
        return await self._log_project()

    def log_stats(self) -> LogStats:
        """Calls logged, sent, dropped (buffer full, refused, left at close) and pending."""
        return self._calls.stats()

    async def _send_calls(self, project_id: str, calls: list[CallIn]) -> object:
        return await self.log_calls(project_id, calls)

    async def _log_project(self) -> str:
        """The project calls are logged to (and feedback given in): the client's (an id or a name),
        else the key's own."""
        given = self.settings.project
        if given:
            with contextlib.suppress(ValueError):
                return str(uuid.UUID(given))
            named = [p.id for p in await self.list_projects() if p.name == given]
            if len(named) != 1:
                raise ValueError(f"no single project named {given!r} (the client's project)")
            return named[0]
        me = await self.who_am_i()
        if not me.project_id:
            raise ValueError("this key belongs to no project: give project= to the client or project_id= to the call")
        return me.project_id

    async def close(self) -> None:
        """Sends what was logged (for ``LogOptions.close_timeout_s`` at most), then closes the channels."""
        await self._calls.close()
        await self._transport.close()

    async def __aenter__(self) -> AsyncScorekeeper:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _Loop:
    """An event loop in a daemon thread, for the sync client's calls."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="scorekeeper-sdk", daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        async def spawn() -> asyncio.Task[T]:
            return asyncio.ensure_future(work)

        task = asyncio.run_coroutine_threadsafe(spawn(), self.loop).result()
        outcome: concurrent.futures.Future[T] = concurrent.futures.Future()

        def settle(done: asyncio.Task[T]) -> None:
            if done.cancelled():
                outcome.cancel()
            elif (error := done.exception()) is not None:
                outcome.set_exception(error)
            else:
                outcome.set_result(done.result())

        self.loop.call_soon_threadsafe(task.add_done_callback, settle)
        try:
            return outcome.result()
        except KeyboardInterrupt:
            # Ctrl-C reaches the caller's thread: cancel the work on the loop as well and let it
            # clean up (run_and_evaluate uploads the records it has) before the interrupt goes on.
            self.loop.call_soon_threadsafe(task.cancel)
            with contextlib.suppress(BaseException):
                outcome.result(timeout=30)
            raise

    def iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        async def step() -> tuple[bool, T | None]:
            try:
                return True, await items.__anext__()
            except StopAsyncIteration:
                return False, None

        try:
            while True:
                more, item = self.run(step())
                if not more:
                    return
                yield item  # type: ignore[misc]
        finally:
            close = getattr(items, "aclose", None)
            if close is not None and self.loop.is_running():
                self.run(close())

    def stop(self) -> None:
        """As asyncio.run ends: tasks still pending (gRPC's reader of an upload the server refused
        early) are cancelled and awaited, async generators closed, then the loop stops."""

        async def settle_leftovers() -> None:
            leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        if self.loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(settle_leftovers(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class _Descriptor:
    name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name


class _Call(_Descriptor, Generic[P, T]):
    """``Scorekeeper.get_run``: AsyncScorekeeper.get_run, called to completion on the client's loop."""

    def __init__(self, operation: Callable[Concatenate[Any, P], Awaitable[T]]) -> None:
        self._operation = operation
        self.__doc__ = operation.__doc__

    @overload
    def __get__(self: C, client: None, owner: type) -> C: ...
    @overload
    def __get__(self, client: Scorekeeper, owner: type) -> Callable[P, T]: ...
    def __get__(self, client: Scorekeeper | None, owner: type) -> Any:
        if client is None:
            return self
        operation = self._operation

        @functools.wraps(operation)
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            async def work() -> T:
                return await operation(client.aio, *args, **kwargs)

            return client._loop.run(work())

        return call


class _Iterate(_Descriptor, Generic[P, T]):
    """``Scorekeeper.list_runs``: AsyncScorekeeper.list_runs as a plain iterator, a page at a time."""

    def __init__(self, operation: Callable[Concatenate[Any, P], AsyncIterator[T]]) -> None:
        self._operation = operation
        self.__doc__ = operation.__doc__

    @overload
    def __get__(self: C, client: None, owner: type) -> C: ...
    @overload
    def __get__(self, client: Scorekeeper, owner: type) -> Callable[P, Iterator[T]]: ...
    def __get__(self, client: Scorekeeper | None, owner: type) -> Any:
        if client is None:
            return self
        operation = self._operation

        @functools.wraps(operation)
        def iterate(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
            return client._loop.iterate(operation(client.aio, *args, **kwargs))

        return iterate


class Scorekeeper:
    """Sync client of a Scorekeeper instance, with the operations of AsyncScorekeeper (same
    arguments, same results; iterators instead of async iterators): ``with Scorekeeper() as sk: …``."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        query_url: str | None = None,
        project: str | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        settings: Settings | None = None,
        log_options: LogOptions | None = None,
    ) -> None:
        settings = settings or resolve(url, api_key, query_url=query_url, project=project, timeout_s=timeout_s)
        self._loop = _Loop()

        async def connect() -> AsyncScorekeeper:
            # grpc.aio channels belong to the loop they are made on.
            client = AsyncScorekeeper(settings=settings, retry=retry, log_options=log_options)
            client._loop = asyncio.get_running_loop()
            return client

        self.aio = self._loop.run(connect())
        self.settings = settings
        # Calls logged but not yet sent when the program ends are sent first (close_timeout_s at most).
        atexit.register(_close_at_exit, weakref.ref(self))

    def log(self, *args: Any, **kwargs: Any) -> str:
        """Logs one production call in the background; returns its call id at once, from any thread
        (``AsyncScorekeeper.log``: it never waits and never raises)."""
        return self.aio.log(*args, **kwargs)

    def log_stats(self) -> LogStats:
        return self.aio.log_stats()

    def close(self) -> None:
        if self._loop.loop.is_closed():
            return
        self._loop.run(self.aio.close())
        self._loop.stop()

    def __enter__(self) -> Scorekeeper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Runs a coroutine of ``self.aio`` on this client's loop (for what has no sync twin)."""
        return self._loop.run(work)

    flush = _Call(AsyncScorekeeper.flush)
    # -- catalog and keys
    list_projects = _Call(AsyncScorekeeper.list_projects)
    get_project = _Call(AsyncScorekeeper.get_project)
    create_project = _Call(AsyncScorekeeper.create_project)
    update_project = _Call(AsyncScorekeeper.update_project)
    list_metrics = _Call(AsyncScorekeeper.list_metrics)
    archive_metric = _Call(AsyncScorekeeper.archive_metric)
    unarchive_metric = _Call(AsyncScorekeeper.unarchive_metric)
    get_metric = _Call(AsyncScorekeeper.get_metric)
    get_metric_versions = _Call(AsyncScorekeeper.get_metric_versions)
    create_metric = _Call(AsyncScorekeeper.create_metric)
    create_heuristic_metric = _Call(AsyncScorekeeper.create_heuristic_metric)
    update_metric = _Call(AsyncScorekeeper.update_metric)
    list_metric_groups = _Call(AsyncScorekeeper.list_metric_groups)
    create_metric_group = _Call(AsyncScorekeeper.create_metric_group)
    list_systems = _Call(AsyncScorekeeper.list_systems)
    get_system = _Call(AsyncScorekeeper.get_system)
    create_system = _Call(AsyncScorekeeper.create_system)
    create_system_version = _Call(AsyncScorekeeper.create_system_version)
    create_system_version_by_name = _Call(AsyncScorekeeper.create_system_version_by_name)
    set_production_version = _Call(AsyncScorekeeper.set_production_version)
    who_am_i = _Call(AsyncScorekeeper.who_am_i)
    create_api_key = _Call(AsyncScorekeeper.create_api_key)
    list_api_keys = _Call(AsyncScorekeeper.list_api_keys)
    revoke_api_key = _Call(AsyncScorekeeper.revoke_api_key)
    rotate_api_key = _Call(AsyncScorekeeper.rotate_api_key)
    list_audit_events = _Iterate(AsyncScorekeeper.list_audit_events)
    # -- testsets
    create_testset = _Call(AsyncScorekeeper.create_testset)
    get_testset = _Call(AsyncScorekeeper.get_testset)
    list_testsets = _Iterate(AsyncScorekeeper.list_testsets)
    list_testset_versions = _Iterate(AsyncScorekeeper.list_testset_versions)
    compare_testset_versions = _Call(AsyncScorekeeper.compare_testset_versions)
    update_testset = _Call(AsyncScorekeeper.update_testset)
    delete_testset = _Call(AsyncScorekeeper.delete_testset)
    add_testcases = _Call(AsyncScorekeeper.add_testcases)
    add_to_testset = _Call(AsyncScorekeeper.add_to_testset)
    update_testcase = _Call(AsyncScorekeeper.update_testcase)
    delete_testcases = _Call(AsyncScorekeeper.delete_testcases)
    list_testcases = _Iterate(AsyncScorekeeper.list_testcases)
    import_testcases = _Call(AsyncScorekeeper.import_testcases)
    import_testset = _Call(AsyncScorekeeper.import_testset)
    export_testcases = _Iterate(AsyncScorekeeper.export_testcases)
    export_testcases_to = _Call(AsyncScorekeeper.export_testcases_to)
    # -- runs
    create_run = _Call(AsyncScorekeeper.create_run)
    cancel_run = _Call(AsyncScorekeeper.cancel_run)
    archive_run = _Call(AsyncScorekeeper.archive_run)
    unarchive_run = _Call(AsyncScorekeeper.unarchive_run)
    update_run_notes = _Call(AsyncScorekeeper.update_run_notes)
    update_run_tags = _Call(AsyncScorekeeper.update_run_tags)
    rescore_run = _Call(AsyncScorekeeper.rescore_run)
    submit_human_score = _Call(AsyncScorekeeper.submit_human_score)
    ingest_records = _Call(AsyncScorekeeper.ingest_records)
    tag_records = _Call(AsyncScorekeeper.tag_records)
    retry_errored_records = _Call(AsyncScorekeeper.retry_errored_records)
    # -- the review queue
    next_review_item = _Call(AsyncScorekeeper.next_review_item)
    previous_review_item = _Call(AsyncScorekeeper.previous_review_item)
    open_review_item = _Call(AsyncScorekeeper.open_review_item)
    skip_review_item = _Call(AsyncScorekeeper.skip_review_item)
    submit_review = _Call(AsyncScorekeeper.submit_review)
    review_queues = _Call(AsyncScorekeeper.review_queues)
    # -- reads
    get_run = _Call(AsyncScorekeeper.get_run)
    previous_run = _Call(AsyncScorekeeper.previous_run)
    wait_for_run = _Call(AsyncScorekeeper.wait_for_run)
    list_runs = _Iterate(AsyncScorekeeper.list_runs)
    list_records = _Iterate(AsyncScorekeeper.list_records)
    get_record = _Call(AsyncScorekeeper.get_record)
    run_history = _Call(AsyncScorekeeper.run_history)
    run_usage = _Call(AsyncScorekeeper.run_usage)
    compare_runs = _Call(AsyncScorekeeper.compare_runs)
    compared_testcases = _Iterate(AsyncScorekeeper.compared_testcases)
    compare_run_matrix = _Call(AsyncScorekeeper.compare_run_matrix)
    metric_agreement = _Call(AsyncScorekeeper.metric_agreement)
    score_distribution = _Call(AsyncScorekeeper.score_distribution)
    run_steps = _Call(AsyncScorekeeper.run_steps)
    run_breakdown = _Call(AsyncScorekeeper.run_breakdown)
    weak_slices = _Call(AsyncScorekeeper.weak_slices)
    export_run = _Iterate(AsyncScorekeeper.export_run)
    export_run_to = _Call(AsyncScorekeeper.export_run_to)
    export_records = _Iterate(AsyncScorekeeper.export_records)
    # -- playground
    try_prompt = _Call(AsyncScorekeeper.try_prompt)
    get_try = _Call(AsyncScorekeeper.get_try)
    list_tries = _Iterate(AsyncScorekeeper.list_tries)
    # -- monitors
    log_calls = _Call(AsyncScorekeeper.log_calls)
    create_monitor = _Call(AsyncScorekeeper.create_monitor)
    get_monitor = _Call(AsyncScorekeeper.get_monitor)
    list_monitors = _Call(AsyncScorekeeper.list_monitors)
    update_monitor = _Call(AsyncScorekeeper.update_monitor)
    delete_monitor = _Call(AsyncScorekeeper.delete_monitor)
    pause_monitor = _Call(AsyncScorekeeper.pause_monitor)
    resume_monitor = _Call(AsyncScorekeeper.resume_monitor)
    test_monitor_alert = _Call(AsyncScorekeeper.test_monitor_alert)
    # -- logged calls and their feedback
    send_feedback = _Call(AsyncScorekeeper.send_feedback)
    send_feedback_batch = _Call(AsyncScorekeeper.send_feedback_batch)
    list_calls = _Iterate(AsyncScorekeeper.list_calls)
    feedback_summary = _Call(AsyncScorekeeper.feedback_summary)
    feedback_trend = _Call(AsyncScorekeeper.feedback_trend)
    call_steps = _Call(AsyncScorekeeper.call_steps)
    export_calls = _Iterate(AsyncScorekeeper.export_calls)
    call_traffic = _Call(AsyncScorekeeper.call_traffic)
    call_breakdown = _Call(AsyncScorekeeper.call_breakdown)
    add_calls_to_testset = _Call(AsyncScorekeeper.add_calls_to_testset)
    get_call = _Call(AsyncScorekeeper.get_call)
    # -- schedules
    create_schedule = _Call(AsyncScorekeeper.create_schedule)
    list_schedules = _Call(AsyncScorekeeper.list_schedules)
    update_schedule = _Call(AsyncScorekeeper.update_schedule)
    delete_schedule = _Call(AsyncScorekeeper.delete_schedule)
    run_schedule_now = _Call(AsyncScorekeeper.run_schedule_now)
    # -- webhooks
    create_webhook = _Call(AsyncScorekeeper.create_webhook)
    list_webhooks = _Call(AsyncScorekeeper.list_webhooks)
    update_webhook = _Call(AsyncScorekeeper.update_webhook)
    delete_webhook = _Call(AsyncScorekeeper.delete_webhook)
    test_webhook = _Call(AsyncScorekeeper.test_webhook)
    list_webhook_deliveries = _Iterate(AsyncScorekeeper.list_webhook_deliveries)


def _close_at_exit(ref: weakref.ref[Scorekeeper]) -> None:
    client = ref()
    if client is not None:
        with contextlib.suppress(Exception):
            client.close()
