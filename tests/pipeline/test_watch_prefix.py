"""``watch_prefix``: the changes other tools made under a prefix, as events on the real
Prefect API of the session's harness, one per object up to its limit and batch events past
it, counted as the API stored them, no change lost."""

from __future__ import annotations

from pathlib import Path

from api_events import events_about
from prefect.events import emit_event
from prefect.events.schemas.events import ReceivedEvent
from prefect.events.worker import EventsWorker
from prefect.types._datetime import now
from servers import Raw

import t4
from flows.watch_prefix import BATCH_KEYS, EVENTS_PER_POLL, watch_prefix
from t4flows.lineage import object_uri

#: Well past the per-poll limit, and past one batch.
FLOOD = BATCH_KEYS + EVENTS_PER_POLL - 50


def all_events_of(uri: str, since: object) -> list[ReceivedEvent]:
    """Every ``t4.object*`` event under ``uri`` the API stored since ``since``: a sentinel is
    sent after them and read back, so none of them is still on its way."""
    EventsWorker.drain_all()
    sentinel = object_uri(uri, "zz-sentinel")
    emit_event("t4.test.sentinel", resource={"prefect.resource.id": sentinel})
    EventsWorker.drain_all()
    found = events_about(
        uri,
        [],
        lambda got: any(e.event == "t4.test.sentinel" for e in got),
        since,
        prefixes=["t4.object", "t4.test.sentinel"],
    )
    return [e for e in found if e.event != "t4.test.sentinel"]


def flood(bucket_uri: str, tmp_path: Path, count: int) -> list[str]:
    """``count`` new objects under ``incoming/``, written by the core (no events)."""
    folder = tmp_path / "flood"
    folder.mkdir()
    for i in range(count):
        (folder / f"f{i:05}.txt").write_text(str(i))
    t4.Bucket(bucket_uri).put_dir("incoming/", folder)
    return [f"incoming/f{i:05}.txt" for i in range(count)]


def test_watch_prefix_turns_other_tools_changes_into_events(bucket_uri: str, raw: Raw) -> None:
    raw.write("incoming/keep.csv", b"1")
    raw.write("incoming/change.csv", b"1")
    raw.write("incoming/gone.csv", b"1")
    raw.write("elsewhere/x.csv", b"1")
    first = watch_prefix(bucket_uri, "incoming/")
    assert first == {"first_run": True, "new": [], "changed": [], "deleted": [], "pending": 0}

    since = now("UTC")
    raw.write("incoming/new.csv", b"2")
    raw.write("incoming/change.csv", b"22")
    raw.delete("incoming/gone.csv")
    raw.write("elsewhere/y.csv", b"2")
    second = watch_prefix(bucket_uri, "incoming/")
    assert second == {
        "first_run": False,
        "new": ["incoming/new.csv"],
        "changed": ["incoming/change.csv"],
        "deleted": ["incoming/gone.csv"],
        "pending": 0,
    }
    uri = t4.Bucket(bucket_uri).uri
    events = all_events_of(object_uri(uri, ""), since)
    seen = sorted((e.event, e.resource["t4.key"], e.payload.get("change")) for e in events)
    assert seen == [
        ("t4.object.deleted", "incoming/gone.csv", "deleted"),
        ("t4.object.written", "incoming/change.csv", "changed"),
        ("t4.object.written", "incoming/new.csv", "new"),
    ]
    assert watch_prefix(bucket_uri, "incoming/")["new"] == []  # the listing was recorded


def test_a_flood_of_new_objects_is_a_few_batch_events(bucket_uri: str, tmp_path: Path) -> None:
    """Another tool's bulk write of more objects than a poll's event limit: batch events of
    at most ``BATCH_KEYS`` keys, together naming every new key once, and no per-object
    event."""
    uri = t4.Bucket(bucket_uri).uri
    watch_prefix(bucket_uri, "incoming/")
    keys = flood(bucket_uri, tmp_path, FLOOD)
    since = now("UTC")
    found = watch_prefix(bucket_uri, "incoming/")
    assert (found["new"], found["pending"]) == (keys, 0)

    events = all_events_of(uri, since)
    assert [e.event for e in events] == ["t4.objects.written"] * 2  # not 1,050
    named: list[str] = []
    for event in sorted(events, key=lambda e: e.payload["first"]):
        assert event.resource.id == object_uri(uri, "incoming/")
        assert event.resource["t4.prefix"] == "incoming/"
        payload = event.payload
        assert payload["change"] == "new" and payload["count"] == len(payload["keys"])
        assert (payload["first"], payload["last"]) == (payload["keys"][0], payload["keys"][-1])
        named.extend(payload["keys"])
    assert named == keys  # each once, in key order
    assert watch_prefix(bucket_uri, "incoming/")["new"] == []


def test_what_a_poll_cannot_fit_is_left_for_the_next(lake: Path, tmp_path: Path) -> None:
    """With ``max_events`` batches full, the rest waits for the next poll (``pending``), and
    each key is still reported exactly once, in the poll that has room for it; deletes too."""
    uri = t4.Bucket(lake).uri
    watch_prefix(str(lake), "incoming/")
    keys = flood(str(lake), tmp_path, 1050)
    since = now("UTC")
    polls = [watch_prefix(str(lake), "incoming/", max_events=2, batch_keys=400) for _ in range(3)]
    assert [(len(p["new"]), p["pending"]) for p in polls] == [(800, 250), (250, 0), (0, 0)]
    assert polls[0]["new"] + polls[1]["new"] == keys
    for key in keys[:3]:
        (lake / key).unlink()
    gone = watch_prefix(str(lake), "incoming/", max_events=2, batch_keys=400)
    assert gone["deleted"] == keys[:3]

    events = all_events_of(uri, since)
    batches = sorted(
        (e.event, e.payload["count"], e.payload["first"]) for e in events if e.payload.get("keys")
    )
    assert batches == [
        ("t4.objects.deleted", 3, keys[0]),  # more than max_events=2 deletes: one batch
        ("t4.objects.written", 250, keys[800]),
        ("t4.objects.written", 400, keys[0]),
        ("t4.objects.written", 400, keys[400]),
    ]
    assert len(events) == 4  # and nothing else
    deleted = [e for e in events if e.event == "t4.objects.deleted"]
    assert [e.payload["keys"] for e in deleted] == [keys[:3]]
