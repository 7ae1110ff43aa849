"""The source names `serve` shows (the reader page, `/health`, `?source=`), read from the registry file again when
the file has changed, so that a source `aggregator add` adds while `serve` runs shows without a restart. Reads the
registry file only; writes nothing, and knows nothing of requests (`aggregator.publish.serve` asks once a request).
"""

from __future__ import annotations

import logging
import os
import threading

from aggregator.sources import RegistryError, load_registry, registry_path

logger = logging.getLogger(__name__)

__all__ = ["RegistryNames"]


class RegistryNames:
    """`names()`: {source key: display name} of the registry at `path` (else $AGGREGATOR_SOURCES, else the one
    shipped in the package), as the file is now.

    The file is read when made (a bad one raises `RegistryError`), then again whenever its modification time, size
    or inode (a file renamed over it, as `aggregator add` writes) differ from the last ones read. A changed file
    that cannot be read or parsed keeps the last good names, and is logged once, not once a request."""

    def __init__(self, path: str | None = None) -> None:
        self.path = registry_path(path)  # None: the shipped registry, which does not change under a running serve
        self._lock = threading.Lock()  # one thread reads a changed file; the others wait for its names
        self._version = self._file_version()
        self._names = self._read()

    def __call__(self) -> dict[str, str]:
        if self.path is None:
            return self._names
        version = self._file_version()
        if version == self._version:
            return self._names
        with self._lock:
            if version != self._version:
                self._version = version  # a bad version is logged once, then waits for the next change
                try:
                    self._names = self._read()
                except RegistryError as exc:
                    logger.error("The sources registry changed but cannot be used, still showing the %d sources"
                                 " read before: %s", len(self._names), exc)
                else:
                    logger.info("The sources registry %s changed: %d sources", self.path, len(self._names))
        return self._names

    def _read(self) -> dict[str, str]:
        return {key: source.name for key, source in load_registry(self.path).items()}

    def _file_version(self) -> tuple[object, ...]:
        """What tells one version of the file from another; a file that cannot be looked at is a version too
        (its error), so that it is reported once."""
        if self.path is None:
            return ()
        try:
            status = os.stat(self.path)
        except OSError as exc:
            return ("unreadable", exc.errno)
        return status.st_mtime_ns, status.st_size, status.st_ino, status.st_dev
