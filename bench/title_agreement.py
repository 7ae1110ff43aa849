"""How far a publisher-blind title rule can go on the real-world pages: the pages grouped by which of their
title statements agree, and the best answer per group.

Usage: python bench/title_agreement.py [DATA_DIR]   (default ../shared/bench/realworld)

Each page states its headline up to five times: og:title, twitter:title, the JSON-LD headline, the first <h1> and
the <title> (each with its site name cut off by `aggregator.extract.titles.clean_title`). Pages are grouped by
which of these agree (e.g. "h1+ld | og+tw+doc"); for each page the answer is the statement group the expected
titles of the *other* pages of its group favour (leave-one-out; a page alone in its group keeps today's
answer). Printed: today's exact-match rate, that leave-one-out rate (what a rule learned from agreement patterns
could expect on unseen publishers), and the rate when each group may pick its best answer on its own pages
(an upper bound that recognises pages). Exact match is the scorer's (`evaluate.py`'s `norm`).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import importlib.util
import json
import logging
import sys
from pathlib import Path
from types import ModuleType

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from aggregator.extract.page_metadata import read_page_metadata, site_names_for  # noqa: E402
from aggregator.extract.parsing import parse_html  # noqa: E402
from aggregator.extract.titles import TitleCandidates, _typography_key, choose_title, clean_title  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "bench" / "realworld"


def scorer(data_dir: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("realworld_evaluate", data_dir / "evaluate.py")
    if spec is None or spec.loader is None:
        raise SystemExit("no evaluate.py in %s" % data_dir)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def statements(candidates: TitleCandidates, names: list[str]) -> dict[str, str]:
    headings = list(candidates.headings)
    found = {
        "og": clean_title(candidates.social[0] if candidates.social else None, names, headings),
        "tw": clean_title(candidates.social[1] if len(candidates.social) > 1 else None, names, headings),
        "ld": clean_title(candidates.headline, names, headings),
        "h1": headings[0] if headings else None,
        "doc": clean_title(candidates.documents[0] if candidates.documents else None, names, headings),
    }
    return {name: value for name, value in found.items() if value}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    norm = scorer(args.data_dir).norm
    truth = json.loads((args.data_dir / "truth.json").read_text("utf-8"))
    pages = []  # (agreement pattern, statement groups holding the expected title, today's answer right)
    for page_id, expected in sorted(truth.items()):
        html = gzip.decompress((args.data_dir / "pages" / ("%s.html.gz" % page_id)).read_bytes()).decode("utf-8")
        tree = parse_html(html)
        if tree is None:
            continue
        page = read_page_metadata(tree, expected["url"])
        names = [*site_names_for(page.site_name, expected["url"]), *page.site_names]
        stated = statements(page.title_candidates, names)
        groups: dict[str, list[str]] = collections.defaultdict(list)
        for name, value in stated.items():
            groups[_typography_key(value).lower()].append(name)
        pattern = tuple(sorted("+".join(group) for group in groups.values()))
        right = {"+".join(group) for group in groups.values()
                 if any(norm(stated[name]) == norm(expected["title"]) for name in group)}
        today = norm(choose_title(page.title_candidates, names)) == norm(expected["title"])
        pages.append((pattern, right, today))
    by_pattern: dict[tuple[str, ...], list[int]] = collections.defaultdict(list)
    for number, (pattern, _, _) in enumerate(pages):
        by_pattern[pattern].append(number)
    held_out = fitted = 0
    for members in by_pattern.values():
        votes = collections.Counter(group for number in members for group in pages[number][1])
        fitted += max(votes.values(), default=0)
        for number in members:
            others = collections.Counter(group for other in members if other != number for group in pages[other][1])
            held_out += (others.most_common(1)[0][0] in pages[number][1]) if others else pages[number][2]
    total = len(pages)
    print("%d pages, %d agreement patterns" % (total, len(by_pattern)))
    print("title exact today:                      %5.1f %%" % (100 * sum(p[2] for p in pages) / total))
    print("best group per pattern, leave-one-out:  %5.1f %%" % (100 * held_out / total))
    print("best group per pattern, on the pages:   %5.1f %%  (recognises pages: an upper bound)"
          % (100 * fitted / total))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
