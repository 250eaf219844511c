"""The pages in a real browser (headless Chromium through Playwright): a person's clicks
from a folder to an object and its preview, a search, a package version and its diff;
screenshots saved; and hostile keys, metadata and package text that never run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from servers import S3Server

import t4
from web import seed
from web.conftest import Site, make_app, serve


def watched(context: Any) -> Any:
    """A new page of ``context`` that records every dialog (an ``alert`` that ran), page
    error, console error, failed request and answer of 400 or more (``page.problems``; a
    test expecting one removes it from ``page.expected``)."""
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.dialogs, page.errors, page.problems = [], [], []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    page.on("console", lambda m: _console(page, m))
    page.on("requestfailed", lambda req: _failed(page, req))
    page.on("response", lambda r: r.status >= 400 and page.problems.append(f"{r.status} {r.url}"))
    return page


def _console(page: Any, message: Any) -> None:
    if message.type == "error":
        page.problems.append(f"{message.text} {message.location}")


def _failed(page: Any, request: Any) -> None:
    # ERR_ABORTED: the browser itself dropped a request when the page navigated on (a click
    # while the icon loads); a server that fails answers otherwise (reset, empty, refused).
    if request.failure != "net::ERR_ABORTED":
        page.problems.append(f"{request.url}: {request.failure}")


def assert_clean(page: Any, expected: tuple[str, ...] = ()) -> None:
    """No console error, failed request or error answer on any page visited, but the
    ``expected`` ones (each a substring of one problem)."""
    left = [p for p in page.problems if not any(e in p for e in expected)]
    assert left == [] and page.errors == [], (left, page.errors)


@pytest.fixture
def tab(browser: Any) -> Any:
    """A fresh watched page (see ``watched``); the test fails on any problem it recorded."""
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = watched(context)
    page.expected = ()
    yield page
    context.close()
    assert_clean(page, page.expected)


def test_browse_to_an_object_preview_search_and_a_package(
    site: Site, tab: Any, shots: Path
) -> None:
    tab.goto(site.url + "/")
    tab.click("text=lake")
    tab.click("a.folder >> text=data/")
    assert "cities.csv" in tab.inner_text("table.files")
    tab.screenshot(path=shots / "browse.png", full_page=True)
    tab.click("a.file >> text=cities.csv")
    assert tab.inner_text("h1") == "cities.csv"
    assert '"source": "census"' in tab.inner_text("#user-meta")
    preview = tab.locator("#preview table.grid")
    assert preview.locator("th").all_inner_texts() == ["city", "population"]
    assert preview.locator("tbody tr").count() == 50
    tab.screenshot(path=shots / "object.png", full_page=True)
    tab.click(".crumbs >> text=lake")
    tab.click("a.folder >> text=images/")
    tab.click("a.file >> text=red.png")
    image = tab.locator("#preview img.preview")
    assert image.evaluate("img => img.complete && img.naturalWidth") == 4
    tab.fill("header input[name=q]", "user_meta.source:census")
    tab.press("header input[name=q]", "Enter")
    tab.wait_for_url(re.compile(r"/search\?"))
    assert tab.inner_text("a.hit") == "data/cities.csv"
    tab.screenshot(path=shots / "search.png", full_page=True)
    tab.click("a.hit")
    assert tab.inner_text("h1") == "cities.csv"
    tab.goto(site.url + "/packages/lake/")
    tab.click("a.package >> text=team/data")
    assert "second: b changed, c added" in tab.inner_text("table.versions")
    tab.click("a.version >> nth=0")
    assert tab.inner_text("#message") == "second: b changed, c added"
    assert tab.inner_text("#readme h1") == "Team data"
    tab.screenshot(path=shots / "package.png", full_page=True)
    tab.click("text=what changed")
    changes = tab.inner_text("ul.diff")
    assert "raw/c.csv" in changes and "raw/a.csv" in changes
    tab.screenshot(path=shots / "diff.png", full_page=True)
    assert not tab.dialogs and not tab.errors
    assert sorted(p.name for p in shots.iterdir()) == [
        "browse.png",
        "diff.png",
        "object.png",
        "package.png",
        "search.png",
    ]


def test_search_as_you_type_and_with_javascript_off(site: Site, tab: Any, browser: Any) -> None:
    tab.goto(site.url + "/search?index=lake")
    tab.type("#live-q", "census")
    tab.wait_for_selector("a.hit")  # results follow the typing, no submit
    assert tab.inner_text("a.hit") == "data/cities.csv"
    off = browser.new_context(java_script_enabled=False)
    try:
        page = off.new_page()
        page.goto(site.url + "/search?index=lake")
        page.fill("#live-q", "census")
        page.press("#live-q", "Enter")
        assert page.inner_text("a.hit") == "data/cities.csv"
        page.click("a.hit")
        assert page.inner_text("h1") == "cities.csv"
    finally:
        off.close()


def test_hostile_keys_metadata_and_package_text_never_run(site: Site, tab: Any) -> None:
    first, second = site.hashes
    paths = ["/b/lake/tree/hostile/", "/search?index=lake&q=alert"]
    paths += ["/b/lake/object/" + quote(key, safe="/") for key in seed.HOSTILE_KEYS]
    paths += [f"/packages/lake/team/data/{h}/" for h in (first, second)]
    paths += ["/packages/lake/team/data/"]
    for path in paths:
        tab.goto(site.url + path)
        tab.wait_for_load_state("load")
    assert tab.dialogs == [] and tab.errors == []
    tab.goto(site.url + "/b/lake/tree/hostile/")
    listed = tab.inner_text("table.files")
    assert '"><img src=x onerror=alert(2)>.md' in listed and "<script>alert(1)</" in listed
    tab.goto(site.url + "/b/lake/object/" + quote(seed.HOSTILE_KEYS[1], safe="/"))
    assert seed.HOSTILE[1] in tab.inner_text("#user-meta")
    assert tab.locator("img[src=x]").count() == 0
    tab.goto(site.url + f"/packages/lake/team/data/{second}/")
    readme = tab.inner_text("#readme")
    assert "<script>alert(11)</script>" in readme and "<img src=x onerror=alert(12)>" in readme
    assert tab.locator("#readme a[href^=javascript]").count() == 0
    tab.goto(site.url + "/packages/lake/team/data/")
    assert "first " + seed.HOSTILE[0] in tab.inner_text("table.versions")
    assert tab.dialogs == []


def test_log_in_with_the_token_and_land_where_you_were_going(
    locked_site: Site, tab: Any, shots: Path
) -> None:
    tab.goto(locked_site.url + "/b/lake/tree/data/")
    assert tab.url == locked_site.url + "/login?next=%2Fb%2Flake%2Ftree%2Fdata%2F"
    tab.fill("#token", "not the token")
    tab.click("form.login button")
    assert "That token is wrong" in tab.inner_text("main")
    wrong = f"401 {locked_site.url}/login", f"(Unauthorized) {{'url': '{locked_site.url}/login'"
    tab.expected = wrong  # that answer, and the browser's console line on it
    assert tab.context.cookies() == []
    tab.fill("#token", locked_site.token)
    tab.screenshot(path=shots / "login.png")
    tab.click("form.login button")
    tab.wait_for_url(locked_site.url + "/b/lake/tree/data/")
    assert "cities.csv" in tab.inner_text("table.files")
    (cookie,) = tab.context.cookies()
    assert cookie["name"] == "t4_catalog_token" and cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert tab.evaluate("document.cookie") == ""  # out of the page's scripts' reach
    tab.goto(locked_site.url + "/b/lake/object/images/red.png")  # the image comes too
    image = tab.locator("#preview img.preview")
    assert image.evaluate("img => img.complete && img.naturalWidth") == 4
    assert not tab.dialogs and not tab.errors


def test_an_s3_bucket_browse_preview_an_older_version_and_search(
    s3_env: S3Server, s3_bucket_uri: str, tab: Any, shots: Path
) -> None:
    """The same clicks over a versioned S3 bucket on moto: previews read through ranged GETs,
    downloads presigned, and an older version's own page with its own preview."""
    name = s3_bucket_uri.removeprefix("s3://")
    client = s3_env.client()
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    with t4.Bucket(s3_bucket_uri) as bucket:
        seed.seed_objects(bucket)
        bucket.put("data/cities.csv", b"city,population\nnew-town,1\n", meta={"source": "v2"})
    with serve(make_app([s3_bucket_uri], None)) as url:
        tab.goto(url + "/")
        tab.click(f"text={name}")
        tab.click("a.folder >> text=data/")
        assert "rows.parquet" in tab.inner_text("table.files")
        tab.click("a.file >> text=cities.csv")
        assert tab.inner_text("#preview table.grid tbody").split() == ["new-town", "1"]
        download = tab.get_attribute("#download", "href")
        assert download.startswith(s3_env.endpoint) and "X-Amz-Signature" in download
        assert "latest" in tab.inner_text("table.list tbody tr >> nth=0")
        tab.click("table.list tbody tr >> nth=1 >> a")  # the older version (newest first)
        tab.wait_for_url(re.compile(r"\?version="))
        assert '"source": "census"' in tab.inner_text("#user-meta")
        assert tab.locator("#preview table.grid tbody tr").count() == 50
        assert "versionId=" in tab.get_attribute("#download", "href")
        tab.screenshot(path=shots / "s3-older-version.png", full_page=True)
        tab.goto(url + f"/b/{name}/object/images/red.png")
        image = tab.locator("#preview img.preview")
        assert image.evaluate("img => img.complete && img.naturalWidth") == 4
        tab.goto(url + f"/b/{name}/object/data/rows.parquet")
        assert "row-49" in tab.inner_text("#preview table.grid")
        tab.fill("header input[name=q]", "user_meta.source:v2")
        tab.press("header input[name=q]", "Enter")
        tab.wait_for_url(re.compile(r"/search\?"))
        assert tab.inner_text("a.hit") == "data/cities.csv"
    assert not tab.dialogs
