"""A readable database on a read-only file system is served and exported (issue 18, item 11): readers open
SQLite read-only (`mode=ro`, and `immutable=1` where the folder cannot be written, so no `-shm` file is
needed). The database's folder is bind-mounted read-only in a mount namespace of the command's own
(`unshare -m`): a real read-only file system, which even root cannot write."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from aggregator.store.runs import RunLog
from aggregator.store.sqlite import read_only_uri
from tests.conftest import PROJECT
from tests.test_serve import SOURCES, fill

MOUNT = ('mount --bind "$SRC" "$DST" && mount -o remount,bind,ro "$DST" && exec "$@"')


def read_only_view(tmp_path: Path) -> tuple[Path, Path]:
    """A folder with a database (and its run history) in it, and the path where it will be seen read-only."""
    source = tmp_path / "data"
    source.mkdir()
    fill(source / "news.db")
    log = RunLog(str(source / "news.db"))
    log.finish(log.start(["timesca"]), None)
    log.close()
    assert not (source / "news.db-shm").exists()  # the last connection closed: no WAL index left
    view = tmp_path / "ro"
    view.mkdir()
    return source, view


def run_read_only(source: Path, view: Path, *argv: str, **kw: object) -> subprocess.Popen[str]:
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1)")
    env = {**{k: v for k, v in os.environ.items() if k not in ("AGGREGATOR_DB", "AGGREGATOR_SOURCES")},
           "SRC": str(source), "DST": str(view)}
    return subprocess.Popen(["unshare", "-m", "sh", "-c", MOUNT, "sh", sys.executable, "-m", "aggregator.ops.cli",
                             *argv], cwd=PROJECT, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]


def check_mount_works(tmp_path: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1)")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", MOUNT, "sh", "touch", str(tmp_path / "x")],
                           env={**os.environ, "SRC": str(tmp_path), "DST": str(tmp_path)}, capture_output=True,
                           text=True)
    if "Read-only file system" not in probe.stderr:
        pytest.skip("cannot make a read-only bind mount here: %s" % probe.stderr.strip())


def test_export_runs_stats_explain_on_a_read_only_file_system(tmp_path: Path) -> None:
    check_mount_works(tmp_path)
    source, view = read_only_view(tmp_path)
    db = str(view / "news.db")
    out = tmp_path / "out.json"
    for argv in (("export", "--db", db, "-o", str(out)), ("export", "--db", db, "--format", "atom"),
                 ("runs", "--db", db), ("stats", "--db", db), ("explain", "water", "--db", db)):
        process = run_read_only(source, view, *argv)
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, (argv, stderr[-2000:])
        assert "Error" not in stderr
    assert len(json.loads(out.read_text("utf-8"))["items"]) == 3
    assert sorted(path.name for path in source.iterdir()) == ["news.db"]  # nothing created beside it


def test_serve_on_a_read_only_file_system(tmp_path: Path) -> None:
    check_mount_works(tmp_path)
    source, view = read_only_view(tmp_path)
    sources = tmp_path / "sources.toml"
    sources.write_text(SOURCES, "utf-8")
    process = run_read_only(source, view, "serve", "--db", str(view / "news.db"), "--sources", str(sources),
                            "--port", "0")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Serving http://127.0.0.1:"), line
        base = line.split()[1]
        with urllib.request.urlopen(base + "healthz", timeout=10) as reply:
            assert json.load(reply) == {"status": "ok", "stories": 3, "sightings": 6}
        with urllib.request.urlopen(base + "feed.json", timeout=10) as reply:
            assert len(json.load(reply)["items"]) == 3
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_read_only_uri_is_immutable_only_where_the_folder_cannot_be_written(tmp_path: Path) -> None:
    fill(tmp_path / "news.db")
    uri = read_only_uri(tmp_path / "news.db")
    assert uri.startswith("file:/") and uri.endswith("?mode=ro")  # a writable folder: a writer may come
    reader = sqlite3.connect(uri, uri=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("DELETE FROM stories")
    reader.close()
    odd = tmp_path / "a b?c#d"
    odd.mkdir()
    fill(odd / "news.db")
    reader = sqlite3.connect(read_only_uri(odd / "news.db"), uri=True)  # quoted: '?' and '#' are no URI syntax
    assert reader.execute("SELECT count(*) FROM stories").fetchone() == (3,)
    reader.close()
