"""A pusher process for the concurrency tests: pushes its own content to one package name in
each round, all pushers released together by a barrier, and reports each outcome."""

from __future__ import annotations

import contextlib
from typing import Any

NAME = "team/shared"


def pusher(index: int, uri: str, rounds: int, barrier: Any, results: Any) -> None:
    """Even pushers replace the latest (``force=True``, a nightly job's fresh ``Package()``);
    odd ones browse the latest, change it and push without force, as a person would."""
    import t4

    for round_ in range(rounds):
        force = index % 2 == 0
        barrier.wait()
        try:
            pkg = t4.Package()
            if not force:
                with contextlib.suppress(t4.PackageNotFoundError):
                    pkg = t4.Package.browse(NAME, uri)
            pkg.set(f"by/{index}.json", {"pusher": index, "round": round_})
            pushed = pkg.push(NAME, registry=uri, message=f"{index}/{round_}", force=force)
            results.put((round_, index, force, "pushed", pushed.top_hash))
        except t4.PackageConflictError:
            results.put((round_, index, force, "conflict", None))
        except Exception as err:  # reported to the test, which fails naming it
            results.put((round_, index, force, "error", repr(err)))
