"""Extraction and MinHash signing off Scrapy's reactor: a pool of worker processes sized to the cores.

Each page goes to a worker as the bytes it was fetched as (one copy, through a pipe) and comes back as
an `Article` plus the dedup `Fingerprint` of its text and what was wrong with its charset declarations,
if anything, awaited by the pipeline, so downloads go on while pages are decoded and extracted, and
results arrive in whatever order workers finish. A worker that dies (a C-level crash in a parser, the
OOM killer) breaks the whole `ProcessPoolExecutor`, failing every page in flight: the pool is then
replaced and each of those pages is retried alone, in a process of its own, so only the page that kills
its own process is lost, however many pages were in flight.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, NamedTuple

from aggregator.dedup.fingerprint import Fingerprint, Signer
from aggregator.extract.encoding import decode_page
from aggregator.extract.metadata_only import keeps_metadata, metadata_text
from aggregator.extract.templates import TemplatePage, line_keys, strip
from aggregator.items import Article

# The extractor (trafilatura, lxml, htmldate) is imported by the workers, preloaded once in the forkserver;
# the crawler process imports it only when it extracts inline (workers=0).
_WORKER_MODULES = ["aggregator.extract.pool", "aggregator.extract.extractor"]

logger = logging.getLogger(__name__)

# Per worker process: the signer built once by `_start_worker` (a pool initializer has nowhere else to
# put it). Never set in the crawler's own process.
_signer: Signer | None = None


class WorkerCrashed(RuntimeError):
    """The task killed the worker process it ran alone in."""


def _start_worker(index_options: dict[str, Any]) -> None:
    global _signer
    _die_with_parent()
    _signer = signer_for(index_options)


def signer_for(index_options: dict[str, Any]) -> Signer:
    """The signer of an index with these options: the options that shape fingerprints, not the bands."""
    return Signer(**{name: index_options[name] for name in ("num_perm", "shingle_size", "seed")
                     if name in index_options})


def _die_with_parent() -> None:
    """Linux: a worker gets SIGKILL when its parent (the forkserver, which exits with the crawler) dies, so
    a crawler killed with -9 leaves no orphaned workers behind."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# What a worker sends back for a page: the article (None: no body), its fingerprint's bytes, the problem
# found with its charset declarations (None when they were right) and, from the extractor's own task only,
# whether the article is worth its metadata without a body (`aggregator.extract.metadata_only`) and, when it
# was given a template snapshot, what it did with it.
Result = (tuple[Article | None, bytes | None, str | None] | tuple[Article | None, bytes | None, str | None, bool]
          | tuple[Article | None, bytes | None, str | None, bool, TemplatePage | None])


class PageResult(NamedTuple):
    """One fetched page, extracted: see `Result`; the fingerprint is of the body, or of `metadata_text` when
    the body is empty and the article keeps its metadata. With a template snapshot, the body and its
    fingerprint are without the lines the snapshot holds for template (`aggregator.extract.templates.strip`),
    and `template` says which those were and keeps the body as extracted."""

    article: Article | None
    fingerprint: Fingerprint | None
    charset_problem: str | None
    keeps_metadata: bool = False
    template: TemplatePage | None = None

    @property
    def extracted_text(self) -> str:
        """The body as the extractor read it, before any template line left it ("" without an article)."""
        if self.template is not None and self.template.original is not None:
            return self.template.original
        return self.article.text if self.article is not None else ""


def _extract_and_sign(signer: Signer | None, body: bytes, content_type: str | None, url: str,
                      hints: dict[str, Any], template: frozenset[int] | None = None, min_chars: int = 200) -> Result:
    from aggregator.extract.extractor import extract_page

    page = decode_page(body, content_type)
    extraction = extract_page(page.text, url=url, hints=hints)
    article = extraction.article
    if article is None:
        return None, None, page.problem, False, None
    keeps = keeps_metadata(article, extraction.declares_article)
    # an empty text would sign every bodiless article alike: those worth keeping are signed on what they have
    text = article.text or (metadata_text(article) if keeps else "")
    furniture: frozenset[str] = frozenset()
    done = None
    if template is not None and article.text and len(article.text) >= min_chars:  # shorter: dropped or emptied
        # the keys go back with the page, so the crawler's thread learns from them without hashing every line
        keys = line_keys(article.text)
        stripped = strip(article.text, template, min_chars, keys)
        done = TemplatePage(keys, tuple(stripped.found), article.text if stripped.text is not article.text else None)
        if done.original is not None:
            article = dataclasses.replace(article, text=stripped.text)
        text, furniture = stripped.text, stripped.furniture
    if signer is None or not text:
        return article, None, page.problem, keeps, done
    return article, signer.fingerprint(text, furniture).to_bytes(), page.problem, keeps, done


def extract_and_sign(body: bytes, content_type: str | None, url: str, hints: dict[str, Any],
                     template: frozenset[int] | None = None, min_chars: int = 200) -> Result:
    """The work done for one page in a worker: decoding, extraction, then the fingerprint of the body text (of
    the title and description for an article kept without a body). With `template` (its source's
    `TemplateModel.template_keys`), a body of at least `min_chars` characters loses those lines first, by the
    rule of `aggregator.extract.templates.strip`, and the `TemplatePage` says what was done."""
    return _extract_and_sign(_signer, body, content_type, url, hints, template, min_chars)


def sign_text(text: str, furniture: frozenset[str]) -> bytes | None:
    """In a worker: the fingerprint of `text` without its `furniture` lines (`dedup.fingerprint.line_key`s), for
    a text changed after extraction (`pipelines.templates` removes a source's learned template)."""
    return _signer.fingerprint(text, furniture).to_bytes() if _signer is not None else None


def start_forkserver() -> Any:
    """Start (once) the forkserver the workers are forked from; it imports the extractor as it starts.
    Returns the multiprocessing context. Early callers (`aggregator.ops.crawl.start_workers_early`) let it
    import while the crawler imports Scrapy."""
    import multiprocessing.forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_WORKER_MODULES)
    multiprocessing.forkserver.ensure_running()
    return context


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class ExtractionPool:
    """`await pool.run(body, content_type, url, hints)` in a worker process; `workers=0` runs inline."""

    def __init__(self, workers: int, index_options: dict[str, Any],
                 task: Callable[..., Result] = extract_and_sign) -> None:
        if workers < 0:
            raise ValueError("workers must be >= 0, got %r" % workers)
        self.workers = workers
        self.index_options = dict(index_options)
        self.task = task
        self.restarts = 0
        self._executor: Executor | None = None
        self._generation = 0
        # one big one-off task at a time: a 5 MB feed takes its process to ~100 MB while it parses
        self._one_off = asyncio.Semaphore(1)
        # tasks retried alone after a pool broke: no more processes at once than the pool had
        self._retries = asyncio.Semaphore(max(1, workers))
        self._inline_signer = signer_for(self.index_options) if workers == 0 else None

    def _pool(self) -> Executor:
        if self._executor is None:
            # forkserver: workers never inherit the reactor, sockets or database handles of the crawler;
            # the server imports the extractor once and forks ready workers from it.
            self._executor = ProcessPoolExecutor(self.workers, mp_context=start_forkserver(),
                                                 initializer=_start_worker, initargs=(self.index_options,))
        return self._executor

    def _replace(self, generation: int) -> None:
        """Swap a broken pool for a new one, once per breakage however many pages saw it."""
        if generation != self._generation:
            return
        self._generation += 1
        self.restarts += 1
        broken, self._executor = self._executor, None
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)
        logger.error("A worker process died; restarting the pool (restart %d)", self.restarts)

    async def call(self, function: Callable[..., Any], *args: Any, what: str = "a task",
                   own_process: bool = False) -> Any:
        """`function(*args)` in a worker process (inline with `workers=0`): a module-level function, so it
        pickles by name; its exceptions come back raised here. `own_process`: in a process of its own that
        exits afterwards (one at a time), for big one-off tasks whose parser objects should leave with
        their process rather than stay in a worker's heap. A task whose pool breaks is retried alone;
        WorkerCrashed names `what` when that process dies too."""
        if self.workers == 0:
            return function(*args)
        if own_process:
            async with self._one_off:
                return await self._alone(function, args, what, retries=1)
        generation = self._generation
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool(), function, *args)
        except BrokenProcessPool:
            self._replace(generation)
        # The pool broke with this task in it, perhaps because of it: alone, the task can only kill itself.
        async with self._retries:
            return await self._alone(function, args, what, retries=0)

    async def _alone(self, function: Callable[..., Any], args: tuple[Any, ...], what: str, retries: int) -> Any:
        """`function(*args)` in a new process of its own; WorkerCrashed when it dies `retries` + 1 times."""
        for attempt in range(retries + 1):
            executor = ProcessPoolExecutor(1, mp_context=start_forkserver(), initializer=_start_worker,
                                           initargs=(self.index_options,))
            try:
                return await asyncio.get_running_loop().run_in_executor(executor, function, *args)
            except BrokenProcessPool:
                if attempt == retries:
                    raise WorkerCrashed("%s killed its worker process" % what) from None
            finally:
                executor.shutdown(wait=False)
        raise AssertionError("unreachable")

    async def run(self, body: bytes, content_type: str | None, url: str,
                  hints: dict[str, Any]) -> tuple[Article | None, Fingerprint | None, str | None]:
        """(article, fingerprint, charset problem) of one fetched page."""
        result = await self.extract(body, content_type, url, hints)
        return result.article, result.fingerprint, result.charset_problem

    async def extract(self, body: bytes, content_type: str | None, url: str, hints: dict[str, Any],
                      template: frozenset[int] | None = None, min_chars: int = 200) -> PageResult:
        """One fetched page, extracted and signed (see `PageResult`); `template`: its source's template snapshot,
        whose lines leave bodies of at least `min_chars` characters (a task of one's own is then given both)."""
        extra = (template, min_chars) if template is not None else ()
        if self.workers == 0 and self.task is extract_and_sign:
            result = _extract_and_sign(self._inline_signer, body, content_type, url, hints, *extra)
        else:
            result = await self.call(self.task, body, content_type, url, hints, *extra, what="extracting %s" % url)
        article, data, problem, *rest = result
        done = rest[1] if len(rest) > 1 and isinstance(rest[1], TemplatePage) else None
        return PageResult(article, Fingerprint.from_bytes(data) if data is not None else None, problem,
                          bool(rest and rest[0]), done)

    async def sign(self, text: str, furniture: frozenset[str] = frozenset()) -> Fingerprint | None:
        """The fingerprint of a text changed after extraction, taken in a worker (inline with `workers=0`), so
        the crawler's thread never spends the milliseconds a long text's MinHash costs."""
        if self.workers == 0:
            return self._inline_signer.fingerprint(text, furniture) if self._inline_signer is not None else None
        data = await self.call(sign_text, text, furniture, what="signing a cleaned text")
        return Fingerprint.from_bytes(data) if data is not None else None

    def warm_up(self) -> None:
        """Start the worker processes now (while the first feeds download), not at the first page, from a
        thread: starting one waits for the forkserver to import the extractor (~0.3 s), which would
        otherwise hold up the crawler's first requests."""
        if self.workers > 0:
            pool = self._pool()

            def start() -> None:
                for _ in range(self.workers):
                    pool.submit(default_workers)

            threading.Thread(target=start, name="extraction-pool-start", daemon=True).start()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
