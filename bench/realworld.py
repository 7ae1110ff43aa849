"""Run the real-world page scorer (`../shared/bench/realworld/evaluate.py`) against today's extractor.

Usage: python bench/realworld.py [evaluate.py arguments, e.g. --baseline --per-page FILE]

The scorer imports `aggregator.extraction.extract_article`, the module's name before the package was split
into stages. This runner gives it that name without touching the package: a throw-away project root whose
`aggregator` package extends its path to the real one and adds an `extraction` alias of
`aggregator.extract.extractor`. Everything else (pages, metrics, output) is the scorer's own.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCORER = PROJECT_ROOT.parent / "shared" / "bench" / "realworld" / "evaluate.py"

ALIAS_PACKAGE = '''"""Alias package for the real-world scorer: the real aggregator package, plus `extraction`."""
__path__.append({real!r})
'''
ALIAS_MODULE = '''"""The extractor under the scorer's name."""
from aggregator.extract.extractor import Article, extract_article

__all__ = ["Article", "extract_article"]
'''


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="realworld-root-") as root:
        package = Path(root) / "aggregator"
        package.mkdir()
        (package / "__init__.py").write_text(ALIAS_PACKAGE.format(real=str(PROJECT_ROOT / "aggregator")))
        (package / "extraction.py").write_text(ALIAS_MODULE)
        command = [sys.executable, str(SCORER), "--project-root", root, *args]
        return subprocess.call(command, cwd=root)


if __name__ == "__main__":
    raise SystemExit(main())
