"""The loopback snapshot server: what it serves, and that nothing outside a site's folder is reachable."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from aggregator.testing.snapshot import serve_snapshot


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, b"", dict(exc.headers)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "outside.txt").write_text("secret", "utf-8")
    site = tmp_path / "sites" / "alpha"
    (site / "news").mkdir(parents=True)
    (site / "index.html").write_text("<a href='{{BASE}}/news/x'>home of {{BASE:beta}}</a>", "utf-8")
    (site / "news" / "x.html").write_text("<p>story</p>", "utf-8")
    os.symlink(tmp_path / "outside.txt", site / "leak.txt")
    os.symlink(tmp_path, site / "up")
    (tmp_path / "sites" / "beta").mkdir()
    return tmp_path / "sites"


def test_serves_files_directories_and_extensionless_paths_with_bases_filled_in(root: Path) -> None:
    with serve_snapshot(root) as bases:
        status, body, headers = fetch(bases["alpha"] + "/?utm_source=x")
        assert status == 200
        assert body.decode() == "<a href='%s/news/x'>home of %s</a>" % (bases["alpha"], bases["beta"])
        assert fetch(bases["alpha"] + "/news/x")[:2] == (200, b"<p>story</p>")
        assert fetch(bases["alpha"] + "/news/x", {"If-None-Match": headers["ETag"]})[0] == 200  # another file
        assert fetch(bases["alpha"] + "/", {"If-None-Match": headers["ETag"]})[0] == 304


@pytest.mark.parametrize("path", ["/../outside.txt", "/%2e%2e/outside.txt", "/news/../../outside.txt",
                                  "/leak.txt", "/up/outside.txt", "/missing"])
def test_nothing_outside_the_site_folder_is_served(root: Path, path: str) -> None:
    with serve_snapshot(root) as bases:
        status, body, _ = fetch(bases["alpha"] + path)
    assert status == 404 and b"secret" not in body
