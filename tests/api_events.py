"""Reading events back from the session's Prefect API, as a user's automation sees them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prefect.client.orchestration import get_client
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)
from prefect.events.schemas.events import ReceivedEvent


def events_about(
    uri: str,
    names: list[str],
    until: Callable[[list[ReceivedEvent]], bool],
    since: Any,
    *,
    prefixes: list[str] | None = None,
) -> list[ReceivedEvent]:
    """The events named ``names`` (or whose name starts with one of ``prefixes``) whose
    resource is under ``uri``, once ``until`` holds (the API stores events a moment after
    they are sent: poll, for at most two minutes). Every page is read."""
    deadline = time.monotonic() + 120
    with get_client(sync_client=True) as client:
        while True:
            query = EventFilter(  # built each time: its "until" defaults to the moment it is made
                occurred=EventOccurredFilter(since=since),
                event=EventNameFilter(name=names or None, prefix=prefixes),
                resource=EventResourceFilter(id_prefix=[uri]),
            )
            page = client.read_events(filter=query, limit=50)
            found = list(page.events)
            while page.next_page is not None:
                page = client.read_events_page(page.next_page)
                found.extend(page.events)
            if until(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.5)


def by_resource(events: list[ReceivedEvent], name: str) -> dict[str, ReceivedEvent]:
    return {e.resource.id: e for e in events if e.event == name}
