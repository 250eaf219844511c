"""How many calls one ``put_dir`` task of 2,000 files makes to the Prefect API.

Runs a flow of that one task on a local-folder bucket against a real API (Prefect's test
harness: a server in a subprocess, temporary database, PREFECT_HOME in a temporary folder,
telemetry off), and counts, in this process, every HTTP request sent to the API (by method
and path, ids folded) and every event handed to the events client (by name): the task's
lineage and events must stay a handful of calls, never one per file.

    python -m bench.prefect_calls [--files 2000]

To compare with a checkout without lineage, run it with that checkout first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from prefect import flow
from prefect.events.worker import EventsWorker
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_HOME,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness

import t4flows
from t4flows import put_dir

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def count_calls(files: int) -> tuple[Counter[str], Counter[str]]:
    """HTTP requests and events of one flow run with one ``put_dir`` of ``files`` files."""
    requests: Counter[str] = Counter()
    events: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="t4flows-calls-") as tmp:
        src, lake = Path(tmp, "src"), Path(tmp, "lake")
        lake.mkdir()
        for i in range(files):
            path = src / f"d{i % 20:02}" / f"f{i:05}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"file {i}\n")
        settings = {PREFECT_HOME: str(Path(tmp, "home")), PREFECT_SERVER_ANALYTICS_ENABLED: False}
        with temporary_settings(updates=settings), prefect_test_harness(server_startup_timeout=180):
            api = str(PREFECT_API_URL.value())

            @flow
            def upload() -> int:
                return len(put_dir(str(lake), "w1", str(src))["transferred"])

            with _counting(api, requests, events):
                assert upload() == files
                EventsWorker.drain_all()
    return requests, events


class _counting:
    """Count requests to ``api`` and events sent, by patching the two send methods."""

    def __init__(self, api: str, requests: Counter[str], events: Counter[str]):
        self.api, self.requests, self.events = api, requests, events
        self.saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> None:
        api, requests, events = self.api, self.requests, self.events

        def note(request: httpx.Request) -> None:
            if str(request.url).startswith(api):
                path = _ID.sub("{id}", str(request.url)[len(api) :].split("?")[0])
                requests[f"{request.method} {path}"] += 1

        sync_send, async_send, event_send = (
            httpx.Client.send,
            httpx.AsyncClient.send,
            EventsWorker.send,
        )

        def send(client: httpx.Client, request: httpx.Request, **kw: Any) -> Any:
            note(request)
            return sync_send(client, request, **kw)

        async def asend(client: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> Any:
            note(request)
            return await async_send(client, request, **kw)

        def esend(worker: EventsWorker, event: Any) -> None:
            events[event.event] += 1
            event_send(worker, event)

        self.saved = [(httpx.Client, "send", sync_send), (httpx.AsyncClient, "send", async_send),
                      (EventsWorker, "send", event_send)]  # fmt: skip
        httpx.Client.send = send  # type: ignore[method-assign,assignment]
        httpx.AsyncClient.send = asend  # type: ignore[method-assign,assignment]
        EventsWorker.send = esend  # type: ignore[method-assign]

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in self.saved:
            setattr(owner, name, original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--files", type=int, default=2000)
    args = parser.parse_args()
    requests, events = count_calls(args.files)
    print(f"t4flows from {Path(t4flows.__file__).parent}; put_dir of {args.files:,} files")
    print(f"HTTP requests to the API: {sum(requests.values())}")
    for kind, n in sorted(requests.items()):
        print(f"  {n:5}  {kind}")
    print(f"events: {sum(events.values())}")
    for kind, n in sorted(events.items()):
        print(f"  {n:5}  {kind}")


if __name__ == "__main__":
    main()
