"""moto's S3 server answering one request at a time: ``python tests/moto_serial.py -H ...``.

moto 5 checks ``If-None-Match``/``If-Match`` by reading the object and then writing it, with
no lock, on a threaded server: two conditional PUTs of one key can both succeed. S3 and
SeaweedFS apply the condition atomically, and t4's package pointers rely on that; so the
tests' moto serves requests one after another (connections still each get a thread)."""

from __future__ import annotations

import io
import threading
from typing import Any

from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from werkzeug.wsgi import get_input_stream

_LOCK = threading.Lock()
_CALL = DomainDispatcherApplication.__call__


def _serial_call(self: DomainDispatcherApplication, environ: dict[str, Any], start: Any) -> Any:
    # The body is read before the lock is taken: a client that sends it slowly (the fault
    # proxy stalls some on purpose) holds up its own request only.
    body = get_input_stream(environ).read()
    environ.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
                    "wsgi.input_terminated": False})  # fmt: skip
    with _LOCK:
        return _CALL(self, environ, start)


DomainDispatcherApplication.__call__ = _serial_call  # type: ignore[method-assign]

if __name__ == "__main__":
    server.main()
