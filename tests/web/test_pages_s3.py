"""The pages over an S3 bucket on moto: versions on the object page, the download as a
presigned URL, and previews that read only what they show (counted by the proxy)."""

from __future__ import annotations

import html
import io
import re

import httpx
import numpy as np
import pandas as pd
import pytest
from proxy import FaultProxy
from servers import S3Server

import t4
from web import seed
from web.conftest import make_app, serve


def test_object_page_lists_versions_and_downloads_by_presigned_url(
    s3_env: S3Server, s3_bucket_uri: str
) -> None:
    name = s3_bucket_uri.removeprefix("s3://")
    client = s3_env.client()
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    with t4.Bucket(s3_bucket_uri) as bucket:
        bucket.put("v.txt", b"one", meta={"n": 1})
        bucket.put("v.txt", b"two", meta={"n": 2})
    versions = client.list_object_versions(Bucket=name, Prefix="v.txt")["Versions"]
    old = next(v["VersionId"] for v in versions if not v["IsLatest"])
    with serve(make_app([s3_bucket_uri], None)) as url:
        page = httpx.get(f"{url}/b/{name}/object/v.txt", timeout=60).text
        assert page.count('href="?version=') == 2 and "latest" in page
        link = re.search(r'href="([^"]+)" id="download"', page)
        assert link is not None and "X-Amz-Signature" in link.group(1)
        assert httpx.get(html.unescape(link.group(1)), timeout=60).content == b"two"
        assert f'href="?version={old}"' in page  # each version links to its own page
        older = httpx.get(f"{url}/b/{name}/object/v.txt?version={old}", timeout=60).text
        assert '"n": 1' in html.unescape(older), re.sub(r"<[^>]+>", " ", older)[-600:]
        assert '<pre class="text">one</pre>' in older  # that version's preview
        link = re.search(r'href="([^"]+)" id="download"', older)
        assert link is not None and old in html.unescape(link.group(1))
        assert httpx.get(html.unescape(link.group(1)), timeout=60).content == b"one"
        # our own download route sends S3 objects to the presigned URL too
        answer = httpx.get(f"{url}/b/{name}/download/v.txt", timeout=60)
        assert answer.status_code == 303 and "X-Amz-Signature" in answer.headers["location"]


def test_an_older_version_previews_its_own_table_and_image(
    s3_env: S3Server, s3_bucket_uri: str
) -> None:
    name = s3_bucket_uri.removeprefix("s3://")
    client = s3_env.client()
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    with t4.Bucket(s3_bucket_uri) as bucket:
        bucket.put("t.csv", b"city,people\nold-town,1\n")
        bucket.put("t.csv", b"city,people\nnew-town,2\n")
        bucket.put("p.png", seed.png())
        bucket.put("p.png", b"not the first picture")
        old = {v.key: v.version_id for v in bucket.versions() if not v.is_latest}
    with serve(make_app([s3_bucket_uri], None)) as url:
        table = httpx.get(f"{url}/b/{name}/object/t.csv?version={old['t.csv']}", timeout=60)
        assert "<td>old-town</td>" in table.text and "new-town" not in table.text
        latest = httpx.get(f"{url}/b/{name}/object/t.csv", timeout=60).text
        assert "<td>new-town</td>" in latest and "old-town" not in latest
        image = httpx.get(f"{url}/b/{name}/object/p.png?version={old['p.png']}", timeout=60)
        src = re.search(r'<img class="preview" src="([^"]+)"', image.text)
        assert src is not None and old["p.png"] in html.unescape(src.group(1))
        raw = httpx.get(url + html.unescape(src.group(1)), timeout=60)
        assert raw.status_code == 200 and raw.content == seed.png()
        assert raw.headers["content-type"] == "image/png"


@pytest.fixture
def big_objects(s3_env: S3Server, s3_bucket_uri: str) -> str:
    n = 400_000
    frame = pd.DataFrame({"id": np.arange(n), "name": [f"name-{i}" for i in range(n)]})
    table = io.BytesIO()
    frame.to_parquet(table, row_group_size=50_000)
    text = frame.to_csv(index=False).encode()
    with t4.Bucket(s3_bucket_uri) as bucket:
        bucket.put("big.csv", text)
        bucket.put("big.parquet", table.getvalue())
        bucket.put("big.txt", text)
    assert len(text) > 5_000_000 and table.tell() > 2_000_000
    return s3_bucket_uri


def test_previews_of_big_objects_read_only_what_they_show(
    big_objects: str, s3_env: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = big_objects.removeprefix("s3://")
    with FaultProxy(s3_env.endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        with serve(make_app([big_objects], None)) as url:
            for key, shows, most in (
                ("big.csv", "name-49", 300_000),
                ("big.txt", "name-100", 300_000),
                ("big.parquet", "name-49", 1_500_000),
            ):
                proxy.counts.clear()
                page = httpx.get(f"{url}/b/{name}/object/{key}", timeout=60).text
                assert shows in page, key
                assert proxy.bytes_sent < most, (key, proxy.bytes_sent)
