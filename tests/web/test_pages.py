"""The pages over HTTP, served by uvicorn over a seeded folder bucket (and S3 on moto where
a page differs there): what each shows, read from the HTML a browser gets."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from urllib.parse import quote

import httpx

from t4.parts import atomic_write_target
from web import seed
from web.conftest import Site


def get(site: Site, path: str, **kw: object) -> httpx.Response:
    return httpx.get(site.url + path, timeout=60, **kw)  # type: ignore[arg-type]


def text_of(page: str) -> str:
    """What a person reads: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_the_home_page_lists_the_buckets(site: Site) -> None:
    page = get(site, "/")
    assert page.status_code == 200
    assert 'href="/b/lake/"' in page.text and site.bucket.uri in page.text


def test_a_folder_shows_its_folders_and_objects_with_size_and_time(site: Site) -> None:
    page = get(site, "/b/lake/tree/data/")
    assert page.status_code == 200
    words = text_of(page.text)
    info = next(site.bucket.ls("data/cities.csv"))
    assert "cities.csv" in words and "2.8 KB" in words
    assert info.last_modified.strftime("%Y-%m-%d %H:%M UTC") in words
    assert 'href="/b/lake/object/data/rows.parquet"' in page.text
    root = get(site, "/b/lake/").text
    for folder in ("data/", "docs/", "images/", "many/", "hostile/"):
        assert f'href="/b/lake/tree/{folder}"' in root
    assert "f0001.txt" not in root and ".quilt" in root  # one level; the registry is a folder
    crumbs = get(site, "/b/lake/tree/hostile/").text
    assert '<a href="/b/lake/">lake</a>' in crumbs


def test_a_download_in_progress_into_the_folder_never_shows(site: Site) -> None:
    """The part file a download writes beside its target (t4.parts) is in no listing page
    and no search hit, even after a refresh reads the folder again."""
    with atomic_write_target(site.folder / "data" / "incoming.csv") as part:
        part.write_text("halfwritten,rows\n")
        listing = get(site, "/b/lake/tree/data/").text
        assert "cities.csv" in listing and "incoming" not in listing, part.name
        assert httpx.post(site.url + "/_refresh", timeout=60).status_code == 200
        found = get(site, "/search", params={"index": "lake", "q": "incoming OR halfwritten"})
        assert "0 hits" in text_of(found.text) and part.name not in found.text


def test_a_big_folder_is_listed_1000_at_a_time(site: Site) -> None:
    first = get(site, "/b/lake/tree/many/").text
    assert first.count('class="file"') == 1000
    assert "f0999.txt" in first and "f1000.txt" not in first
    token = re.search(r'href="\?after=([^"]+)"', first)
    assert token is not None
    rest = get(site, "/b/lake/tree/many/?after=" + html.unescape(token.group(1))).text
    assert rest.count('class="file"') == seed.MANY - 1000
    assert "f1004.txt" in rest and "?after=" not in rest


def test_the_object_page_shows_metadata_pretty_and_downloads(site: Site) -> None:
    page = get(site, "/b/lake/object/data/cities.csv").text
    shown = html.unescape(page)
    assert '"source": "census",\n  "tags": [\n    "geo",' in shown  # indented JSON
    download = re.search(r'href="([^"]+)" id="download"', page)
    assert download is not None
    answer = get(site, html.unescape(download.group(1)))
    assert answer.status_code == 200
    assert answer.content == (site.folder / "data/cities.csv").read_bytes()
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["content-type"] == "application/octet-stream"


def test_a_download_never_leaves_the_bucket_folder(site: Site, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    root = site.folder
    os.symlink(secret, root / "leak.txt")
    try:
        for path in ("/b/lake/download/leak.txt", "/b/lake/download/%2E%2E/secret.txt"):
            answer = get(site, path)
            assert 400 <= answer.status_code < 500, path
            assert "not yours" not in answer.text
        answer = get(site, "/b/lake/download/.t4/meta")
        assert answer.status_code in (400, 404)
        for path in ("/b/lake/download/data/cities.csv", "/b/lake/object/data/cities.csv"):
            answer = get(site, path + "?version=v1")  # a folder keeps no versions
            assert answer.status_code == 400 and "keeps no object versions" in answer.text
    finally:
        (root / "leak.txt").unlink()


def test_previews_show_tables_text_and_images(site: Site) -> None:
    csv = text_of(get(site, "/b/lake/object/data/cities.csv").text)
    assert "city49" in csv and "city50 " not in csv and "the first 50 rows" in csv
    tsv = get(site, "/b/lake/object/data/cities.tsv").text
    assert "<th>population</th>" in tsv and "<td>city3</td>" in tsv
    parquet = text_of(get(site, "/b/lake/object/data/rows.parquet").text)
    assert "row-49" in parquet and "row-50" not in parquet
    assert "the first 50 of 5,000 rows" in parquet
    gz = get(site, "/b/lake/object/data/notes.txt.gz").text
    assert "hello from a gzip file" in gz
    js = html.unescape(get(site, "/b/lake/object/data/config.json").text)
    assert '{\n  "b": [\n    1,\n    2\n  ],' in js
    md = get(site, "/b/lake/object/docs/README.md").text
    assert "<h1>Team data</h1>" in md and "<strong>lab</strong>" in md
    image = get(site, "/b/lake/object/images/red.png").text
    src = re.search(r'<img class="preview" src="([^"]+)"', image)
    assert src is not None
    raw = get(site, html.unescape(src.group(1)))
    assert raw.headers["content-type"] == "image/png" and raw.content == seed.png()
    assert raw.headers["content-disposition"].startswith("inline;")


def test_search_finds_objects_and_links_to_them(site: Site) -> None:
    page = get(site, "/search", params={"index": "lake", "q": "user_meta.source:census"}).text
    assert '<a class="hit" href="/b/lake/object/data/cities.csv">data/cities.csv</a>' in page
    assert "1 hit for" in text_of(page)
    nothing = text_of(get(site, "/search", params={"q": "zzznothere"}).text)
    assert "0 hits" in nothing
    bad = get(site, "/search", params={"q": "user_meta.x:("})
    assert bad.status_code == 400 and 'class="error"' in bad.text
    fragment = get(site, "/search", params={"q": "census", "fragment": "1"}).text
    assert "<html" not in fragment and "data/cities.csv" in fragment


def test_packages_versions_files_readme_and_diff(site: Site) -> None:
    first, second = site.hashes
    listing = get(site, "/packages/lake/").text
    assert 'href="/packages/lake/team/data/"' in listing
    versions = get(site, "/packages/lake/team/data/").text
    words = text_of(versions)
    assert words.index("second: b changed, c added") < words.index("first <script>")
    assert "latest" in words and second[:7] in words and first[:7] in words
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", words)
    version = get(site, f"/packages/lake/team/data/{second}/").text
    shown = text_of(version)
    for part in ("raw/", "b.csv", "c.csv", "README.md", "second: b changed, c added"):
        assert part in shown
    assert "a.csv" not in shown
    assert '"new": true' in html.unescape(version)  # entry metadata
    assert "<h1>Team data</h1>" in version  # the README, rendered
    diff = text_of(get(site, f"/packages/lake/team/data/{second}/diff").text)
    assert re.search(r"\+\s+raw/c.csv\s+added", diff)
    assert re.search(r"~\s+raw/b.csv\s+modified", diff)
    assert re.search(r"-\s+raw/a.csv\s+deleted", diff)
    oldest = text_of(get(site, f"/packages/lake/team/data/{first}/diff").text)
    assert "first version" in oldest


def test_hostile_keys_metadata_and_packages_are_escaped(site: Site) -> None:
    first, second = site.hashes
    pages = [
        "/b/lake/",
        "/b/lake/tree/hostile/",
        "/b/lake/tree/hostile/%3Cscript%3Ealert(1)%3C/",
        "/search?q=alert",
        "/packages/lake/team/data/",
        f"/packages/lake/team/data/{first}/",
        f"/packages/lake/team/data/{second}/",
    ]
    for key in seed.HOSTILE_KEYS:
        pages.append("/b/lake/object/" + quote(key, safe="/"))
    for path in pages:
        answer = get(site, path)
        assert answer.status_code == 200, (path, answer.text[-500:])
        for bad in ("<script>alert", "<img src=x", "<svg onload", 'href="javascript:'):
            assert bad not in answer.text, (path, bad)
    note = text_of(get(site, "/b/lake/object/" + quote(seed.HOSTILE_KEYS[1], safe="/")).text)
    assert seed.HOSTILE[1] in note  # shown, as text


def test_pages_forbid_inline_script_and_framing(site: Site) -> None:
    for path in ("/", "/b/lake/tree/data/", "/b/lake/object/data/cities.csv", "/search?q=x"):
        policy = get(site, path).headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
    raw = get(site, "/b/lake/download/images/red.png?inline=1").headers
    assert raw["content-security-policy"].startswith("sandbox")
    assert raw["x-content-type-options"] == "nosniff"


def test_every_page_links_the_icon_the_app_serves_token_or_not(
    site: Site, locked_site: Site
) -> None:
    for path in ("/", "/b/lake/tree/data/", "/b/lake/object/data/cities.csv", "/search?q=x"):
        assert '<link rel="icon" href="/static/favicon.svg"' in get(site, path).text, path
    assert '<link rel="icon" href="/static/favicon.svg"' in get(locked_site, "/login").text
    for served in (site, locked_site):  # the login page shows it before any token
        for path in ("/static/favicon.svg", "/favicon.ico"):
            icon = get(served, path)
            assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
            assert icon.content.startswith(b"<svg") and b"</svg>" in icon.content


def test_login_keeps_the_token_in_a_strict_cookie_and_goes_back_only_here(
    locked_site: Site,
) -> None:
    form = get(locked_site, "/login?next=/b/lake/tree/data/").text
    assert 'name="next" value="/b/lake/tree/data/"' in form and 'type="password"' in form
    wrong = httpx.post(
        locked_site.url + "/login", data={"token": "nope", "next": "/b/lake/"}, timeout=60
    )
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert "That token is wrong" in wrong.text
    right = httpx.post(
        locked_site.url + "/login",
        data={"token": locked_site.token, "next": "/b/lake/tree/data/"},
        timeout=60,
    )
    assert right.status_code == 303 and right.headers["location"] == "/b/lake/tree/data/"
    cookie = right.headers["set-cookie"]
    assert cookie.startswith(f"t4_catalog_token={locked_site.token};")
    for part in ("HttpOnly", "Path=/", "SameSite=strict"):
        assert part.lower() in cookie.lower()
    for elsewhere in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "x"):
        answer = httpx.post(
            locked_site.url + "/login",
            data={"token": locked_site.token, "next": elsewhere},
            timeout=60,
        )
        assert answer.headers["location"] == "/", elsewhere
