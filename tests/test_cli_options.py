"""What the commands share (`aggregator.ops.cli_options`): a `--db` that is no SQLite database is refused before the
crawl lock makes its `<file>.lock` beside it, by every command that takes the lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import invoke

REGISTRY = '[sources.a]\nname = "A"\nfeed = "https://a.example/feed"\n'
LOCKING = [
    ["rules", "apply"],
    ["prune", "--older-than", "90d"],
    ["crawl", "a"],
]


@pytest.mark.parametrize("command", LOCKING)
@pytest.mark.parametrize("content", [b"just some notes, not a database\n" * 40, b"SQLite"])
def test_a_file_that_is_no_database_is_refused_and_leaves_no_lock_file(command: list[str], content: bytes,
                                                                       tmp_path: Path) -> None:
    registry = tmp_path / "sources.toml"
    registry.write_text(REGISTRY, "utf-8")
    notes = tmp_path / "notes.txt"
    notes.write_bytes(content)
    result = invoke(*command, "--db", str(notes), "--sources", str(registry))
    assert result.exit_code == 2, result.output
    assert "Error: cannot use the database %s: file is not a database" % notes in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt", "sources.toml"]
    assert notes.read_bytes() == content


@pytest.mark.parametrize("command", LOCKING)
def test_a_folder_is_refused_and_leaves_no_lock_file(command: list[str], tmp_path: Path) -> None:
    registry = tmp_path / "sources.toml"
    registry.write_text(REGISTRY, "utf-8")
    (tmp_path / "data").mkdir()
    result = invoke(*command, "--db", str(tmp_path / "data"), "--sources", str(registry))
    assert result.exit_code == 2 and result.output.startswith("Error: "), result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data", "sources.toml"]


def test_an_empty_file_is_an_empty_database_and_the_lock_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "news.db"
    db.touch()  # SQLite takes it for an empty database: the command runs, and the lock file is the usual one
    result = invoke("rules", "apply", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "Changed 0 of 0 stories" in result.output and (tmp_path / "news.db.lock").exists()
