"""Filter rules end to end: the real crawl of the loopback seed sites with a rule that hides one story and one
that tags another, into a real SQLite file and the real PostgreSQL server; what export, explain and serve then
show; `aggregator rules check` and `aggregator rules apply`; a bad rule refused before anything is crawled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregator.store.lock import crawl_lock
from tests.conftest import FAST, run_cli
from tests.store_backends import Backend, backend_fixture  # noqa: F401 (a fixture)

RULES = """
[rules.no-ports]
action = "hide"
title = "aktau port"              # any case

[rules.film]
action = "tag"
tag = "Cinema"
source = "timesca"
title = "documentary"
"""
# The same registry after an edit: the port story shown again, the syndicated story hidden once it is seen on
# The Astana Times.
EDITED = """
[rules.syndicated]
action = "hide"
title = "kazakh-uzbek"
source = "astanatimes"

[rules.film]
action = "tag"
tag = "Cinema"
source = "timesca"
title = "documentary"
"""


def with_rules(seed_registry: Path, rules: str) -> Path:
    path = seed_registry.with_name("with-rules.toml")
    path.write_text(seed_registry.read_text("utf-8") + rules, "utf-8")
    return path


def outcomes(backend: Backend) -> dict[str, tuple[int, list[str]]]:
    """{title: (hidden, rule tags)} of every stored story."""
    return {title: (hidden, json.loads(tags))
            for title, hidden, tags in backend.query("SELECT title, hidden, rule_tags FROM stories")}


def title_with(found: dict[str, tuple[int, list[str]]], words: str) -> str:
    (title,) = [title for title in found if words in title]
    return title


def test_a_crawl_hides_one_story_and_tags_another(backend: Backend, seed_registry: Path) -> None:
    registry = with_rules(seed_registry, RULES)
    crawled = run_cli("crawl", "--all", "--sources", str(registry), "--db", backend.db, *FAST)
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    found = outcomes(backend)
    assert len(found) == 7
    port, film = title_with(found, "Aktau port"), title_with(found, "documentary film forum")
    assert found[port] == (1, [])
    assert found[film] == (0, ["Cinema"])
    assert sorted(title for title, outcome in found.items() if outcome != (0, [])) == sorted([port, film])

    feed = json.loads(run_cli("export", "--db", backend.db).stdout)
    titles = {item["title"]: item for item in feed["items"]}
    assert len(titles) == 6 and port not in titles
    assert "Cinema" in titles[film]["tags"]
    atom = run_cli("export", "--db", backend.db, "--format", "atom").stdout
    assert film in atom and port not in atom and 'term="Cinema"' in atom

    ((port_id,),) = backend.query("SELECT id FROM stories WHERE hidden = 1")
    explained = run_cli("explain", port_id, "--db", backend.db)
    assert explained.returncode == 0 and "hidden: by a filter rule" in explained.stdout
    ((film_id,),) = backend.query("SELECT id FROM stories WHERE rule_tags <> '[]'")
    assert "rule tags: Cinema" in run_cli("explain", film_id, "--db", backend.db).stdout

    # The rules edited, then applied again to every stored story: a dry run first.
    registry.write_text(seed_registry.read_text("utf-8") + EDITED, "utf-8")
    syndicated = title_with(found, "Kazakh-Uzbek")
    ((syndicated_id,),) = backend.query("SELECT id FROM stories WHERE title = ?", (syndicated,))
    dry = run_cli("rules", "apply", "--dry-run", "--sources", str(registry), "--db", backend.db)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert sorted(lines[:-1]) == sorted(["%s  shown  %s" % (port_id, port),
                                         "%s  hidden  %s" % (syndicated_id, syndicated)])
    assert lines[-1] == ("Would change 2 of 7 stories: 1 hidden, 1 shown again, 0 with other rule tags"
                         " (dry run: nothing written)")
    assert outcomes(backend) == found

    applied = run_cli("rules", "apply", "--sources", str(registry), "--db", backend.db)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines()[-1] == "Changed 2 of 7 stories: 1 hidden, 1 shown again, 0 with other rule tags"
    now = outcomes(backend)
    assert now[port] == (0, []) and now[syndicated] == (1, []) and now[film] == (0, ["Cinema"])
    exported = {item["title"] for item in json.loads(run_cli("export", "--db", backend.db).stdout)["items"]}
    assert port in exported and syndicated not in exported
    again = run_cli("rules", "apply", "--sources", str(registry), "--db", backend.db)
    assert again.stdout == "Changed 0 of 7 stories: 0 hidden, 0 shown again, 0 with other rule tags\n"


def test_a_story_is_decided_again_when_another_source_carries_it(seed_registry: Path, tmp_path: Path) -> None:
    registry = with_rules(seed_registry, EDITED)
    db = tmp_path / "days.db"
    first = run_cli("crawl", "timesca", "--sources", str(registry), "--db", str(db), *FAST)
    assert first.returncode == 0, first.stderr
    backend = Backend("sqlite", str(db), Exception, Exception)
    syndicated = title_with(outcomes(backend), "Kazakh-Uzbek")
    assert outcomes(backend)[syndicated] == (0, [])  # only on The Times of Central Asia so far
    second = run_cli("crawl", "astanatimes", "--sources", str(registry), "--db", str(db), *FAST)
    assert second.returncode == 0, second.stderr
    found = outcomes(backend)
    assert [hidden for title, (hidden, _) in found.items() if "Kazakh-Uzbek" in title] == [1]


def test_serve_leaves_hidden_stories_out(seed_registry: Path, tmp_path: Path) -> None:
    from tests.test_serve import serving

    db = tmp_path / "served.db"
    crawled = run_cli("crawl", "--all", "--sources", str(with_rules(seed_registry, RULES)), "--db", str(db), *FAST)
    assert crawled.returncode == 0, crawled.stderr
    workdir = tmp_path / "serve"
    workdir.mkdir()
    with serving(db, workdir) as server:
        feed = server.get("/feed.json").json()
        page = server.get("/").body.decode("utf-8")
        atom = server.get("/feed.atom").body.decode("utf-8")
    assert len(feed["items"]) == 6
    assert not any("Aktau port" in item["title"] for item in feed["items"])
    assert "Aktau port" not in page and "Aktau port" not in atom
    assert "documentary film forum" in page
    assert any("Cinema" in item["tags"] for item in feed["items"] if "documentary" in item["title"])


@pytest.mark.parametrize(("table", "field", "why"), [
    ('action = "hide"\ntitle = "(unclosed"', "title", "bad regular expression '(unclosed'"),
    ('action = "tag"\ntitle = "x"', "tag", "a \"tag\" rule needs the tag it adds"),
    ('action = "hide"\nsource = "nosuch"', "source", "no source 'nosuch' in the registry"),
])
def test_a_bad_rule_stops_the_crawl_before_it_starts(seed_registry: Path, tmp_path: Path, table: str, field: str,
                                                     why: str) -> None:
    registry = with_rules(seed_registry, "\n[rules.bad]\n" + table + "\n")
    db = tmp_path / "never.db"
    expected = "Error: %s: rule 'bad', field %r: " % (registry, field)
    for command in (["crawl", "--all", "--db", str(db)], ["rules", "check"], ["rules", "apply", "--db", str(db)]):
        result = run_cli(*command, "--sources", str(registry), *(FAST if command[0] == "crawl" else []))
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.startswith(expected) and why in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not db.exists()


def test_rules_check_lists_the_rules(seed_registry: Path) -> None:
    result = run_cli("rules", "check", "--sources", str(with_rules(seed_registry, RULES)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "2 rules in %s:" % seed_registry.with_name("with-rules.toml"),
        "  no-ports  hide          if title ~ aktau port",
        "  film      tag 'Cinema'  if title ~ documentary and source in timesca"]
    none = run_cli("rules", "check", "--sources", str(seed_registry))
    assert none.returncode == 0 and none.stdout == "No rules in %s.\n" % seed_registry


def test_rules_apply_waits_for_no_crawl(seed_registry: Path, tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    registry = with_rules(seed_registry, RULES)
    assert run_cli("crawl", "timesca", "--sources", str(registry), "--db", str(db), *FAST).returncode == 0
    lock = crawl_lock(str(db))
    lock.acquire()
    try:
        busy = run_cli("rules", "apply", "--sources", str(registry), "--db", str(db))
        assert busy.returncode == 5 and "another crawl is running on" in busy.stderr, busy.stderr
        dry = run_cli("rules", "apply", "--dry-run", "--sources", str(registry), "--db", str(db))
        assert dry.returncode == 0 and "Would change 0 of" in dry.stdout, dry.stderr
    finally:
        lock.release()
    missing = run_cli("rules", "apply", "--sources", str(registry), "--db", str(tmp_path / "none.db"))
    assert missing.returncode == 2 and "no database at" in missing.stderr
