"""`aggregator search`, in this process, over databases the real storage wrote: a SQLite file and (where the test
server runs) PostgreSQL, named by `--db` or `AGGREGATOR_DB` as for every reading command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregator.store.backends import open_storage
from tests.store_backends import Backend, backend_fixture  # noqa: F401 (a fixture)
from tests.test_cli import invoke
from tests.test_search import fill


@pytest.fixture(name="db")
def db_fixture(tmp_path: Path) -> str:
    storage = open_storage(str(tmp_path / "news.db"))
    fill(storage)
    storage.close()
    return str(tmp_path / "news.db")


def test_the_table_shows_the_hits_best_first_with_snippets(backend: Backend) -> None:
    storage = backend.open()
    fill(storage)
    storage.close()
    result = invoke("search", "--db", backend.db, "pact", "neighbours")
    assert result.exit_code == 0, result.output
    header, row, snippet = result.stdout.splitlines()
    assert header.split() == ["ID", "DATE", "SOURCE", "TITLE"]
    assert row.split() == ["water", "2026-11-20", "astanatimes", "Kazakhstan", "and", "Uzbekistan", "sign", "water",
                           "deal"]
    assert snippet.strip() == "Syr Darya [pact] agreed by [neighbours]"
    assert snippet.index("Syr") == row.index("Kazakhstan")  # under the title
    lines = invoke("search", "--db", backend.db, "water", "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines][:1] == ["levels"] and len(lines) == 4


def test_jsonl_items_carry_rank_score_and_a_plain_snippet(db: str) -> None:
    result = invoke("search", "tashkent", "--format", "jsonl", env={"AGGREGATOR_DB": db})
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    item = json.loads(line)
    assert (item["id"], item["title"], item["url"]) == (
        "water", "Kazakhstan and Uzbekistan sign water deal", "https://astanatimes.example/water")
    assert [s["source"] for s in item["_aggregator"]["sightings"]] == ["astanatimes", "timesca"]
    found = item["_search"]
    assert found["rank"] == 1 and found["score"] > 0
    assert [found["snippet"][start:end] for start, end in found["highlights"]] == ["Tashkent"]
    assert "[" not in found["snippet"] and "<mark>" not in found["snippet"]


def test_filters_limit_and_no_match(db: str) -> None:
    def found(*args: str) -> list[str]:
        result = invoke("search", "--db", db, "--format", "jsonl", *args)
        assert result.exit_code == 0, result.output
        return [json.loads(line)["id"] for line in result.stdout.splitlines()]

    assert found("water", "--source", "timesca") == ["water", "rail"]
    assert found("water", "--since", "2026-11-21") == ["rail"]
    assert found("water", "--since", "9999-12-31T23:59:59-05:00") == []  # past datetime's range in UTC
    assert len(found("water", "--limit", "2")) == 2
    assert found('"drinking water"', "--", "-summer") == ["rail"]  # after --, a dash is a word's
    result = invoke("search", "--db", db, "nowhere")
    assert result.exit_code == 0 and result.stdout == "" and "No story matches nowhere." in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--", "-:("], "Invalid value for QUERY: the query has no words to search for"),
    (['""'], "the query has no words to search for"),
    (["water", "--limit", "0"], "Invalid value for '--limit'"),
    (["water", "--since", "last week"], "Invalid value for --since: not an ISO 8601 date"),
    (["water", "--format", "html"], "Invalid value for '--format'"),
    (["water", "--source", "nosuch"], "unknown source 'nosuch'; known sources:"),
])
def test_bad_input_is_a_usage_error(db: str, args: list[str], message: str) -> None:
    result = invoke("search", "--db", db, *args)
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_a_missing_database_is_not_created(tmp_path: Path) -> None:
    result = invoke("search", "--db", str(tmp_path / "none.db"), "water")
    assert result.exit_code == 2 and "no database at" in result.stderr
    assert not (tmp_path / "none.db").exists()
    assert invoke("search").exit_code == 2  # no query at all
