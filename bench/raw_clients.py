"""The two reference clients the benchmark runs as whole processes, one command each:

    python -m bench.raw_clients boto3 up SRC BUCKET PREFIX
    python -m bench.raw_clients boto3 down BUCKET PREFIX DEST
    python -m bench.raw_clients boto3 one BUCKET KEY DEST_FILE
    python -m bench.raw_clients obstore up SRC BUCKET PREFIX
    python -m bench.raw_clients obstore down BUCKET PREFIX DEST

boto3: ``put_object``/``get_object`` of whole files in 16 threads (the baseline most scripts
are). obstore: the minimal client of the machine's limit (``../shared/PERF-FINDINGS.md`` §4),
async with 64 requests in flight on one event loop, downloads written with t4's atomic-write
semantics (exclusive temp file, ``setxattr`` on the descriptor, rename), each folder created
once. Both read the endpoint and credentials from the ``AWS_*`` environment. Imports are
lazy so neither pays for the other; nothing here imports t4.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

THREADS = 16
IN_FLIGHT = 64
XATTR = "user.com.quiltdata.helium"  # t4's attribute: the obstore client writes one per file


def _files(src: Path) -> list[Path]:
    return sorted(p for p in src.rglob("*") if p.is_file())


def _boto3() -> Any:
    import boto3
    from botocore.config import Config

    config = Config(max_pool_connections=THREADS + 4, s3={"addressing_style": "path"})
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], config=config)


def boto3_up(src: Path, bucket: str, prefix: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = _boto3()

    def put(path: Path) -> None:
        key = f"{prefix}/{path.relative_to(src).as_posix()}"
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(put, _files(src)))


def boto3_down(bucket: str, prefix: str, dest: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = _boto3()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]

    def get(key: str) -> None:
        path = dest / key[len(prefix) + 1 :]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(get, keys))


def boto3_one(bucket: str, key: str, dest: Path) -> None:
    dest.write_bytes(_boto3().get_object(Bucket=bucket, Key=key)["Body"].read())


def _store(bucket: str) -> Any:
    from obstore.store import S3Store

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    return S3Store(
        bucket,
        config={
            "endpoint": endpoint,
            "region": os.environ.get("AWS_REGION", "us-east-1"),
            "access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
            "secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
            "virtual_hosted_style_request": False,
        },
        client_options={"allow_http": endpoint.startswith("http://")},
    )


async def _bounded(jobs: list[Any], run: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``run(job)`` for every job, at most ``IN_FLIGHT`` at once, no task per job kept."""
    import asyncio

    todo = iter(jobs)

    async def worker() -> None:
        for job in todo:
            await run(job)

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


def obstore_up(src: Path, bucket: str, prefix: str) -> None:
    import asyncio

    import obstore

    store = _store(bucket)

    async def put(path: Path) -> None:
        key = f"{prefix}/{path.relative_to(src).as_posix()}"
        await obstore.put_async(store, key, path.read_bytes(), use_multipart=False)

    asyncio.run(_bounded(_files(src), put))


def obstore_down(bucket: str, prefix: str, dest: Path) -> None:
    import asyncio

    import obstore

    store = _store(bucket)
    keys = [m["path"] for page in obstore.list(store, prefix + "/") for m in page]
    folders = {os.path.dirname(os.path.join(dest, k[len(prefix) + 1 :])) for k in keys}
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
    counter = iter(range(len(keys)))

    async def get(key: str) -> None:
        data = await (await obstore.get_async(store, key)).bytes_async()
        final = os.path.join(dest, key[len(prefix) + 1 :])
        tmp = f"{os.path.dirname(final)}/.t4-{os.getpid()}-{next(counter)}.part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, memoryview(data))
            os.setxattr(fd, XATTR, b'{"user_meta":{}}')
        finally:
            os.close(fd)
        os.rename(tmp, final)

    asyncio.run(_bounded(keys, get))


def main(argv: list[str]) -> None:
    client, op, *args = argv
    if (client, op) == ("boto3", "up"):
        boto3_up(Path(args[0]), args[1], args[2])
    elif (client, op) == ("boto3", "down"):
        boto3_down(args[0], args[1], Path(args[2]))
    elif (client, op) == ("boto3", "one"):
        boto3_one(args[0], args[1], Path(args[2]))
    elif (client, op) == ("obstore", "up"):
        obstore_up(Path(args[0]), args[1], args[2])
    elif (client, op) == ("obstore", "down"):
        obstore_down(args[0], args[1], Path(args[2]))
    else:
        raise SystemExit(f"unknown: {client} {op}")


if __name__ == "__main__":
    main(sys.argv[1:])
