"""The commands that change the sources registry: `add` (probe a site, register what it offers) and `opml`
(`import` a subscription list, `export` the registry as one). They write only the registry file named by
`--sources` or AGGREGATOR_SOURCES, atomically, never the one shipped in the package; they crawl nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from aggregator.ops.cli_options import ConfigError, load_sources, sources_option, write_atomically
from aggregator.registry_file import (
    NewSource,
    check_key,
    check_source,
    key_from_url,
    registered_as,
    registered_urls,
    shown_url,
    unique_key,
    with_sources,
)
from aggregator.sources import (
    RegistryError,
    Source,
    parse_document,
    parse_registry,
    read_registry_text,
    registry_path,
)
from aggregator.text import clean_text
from aggregator.urls import canonical_url

logger = logging.getLogger(__name__)

NAME_LIMIT = 120  # characters of a title taken as a source's name


@dataclass(frozen=True)
class WritableRegistry:
    """The registry file a command may add to: where it is, its text and its sources (none for a new file)."""

    path: Path
    name: str
    text: str
    sources: dict[str, Source]


def writable_registry(sources_file: str | None) -> WritableRegistry:
    """The file named by --sources or AGGREGATOR_SOURCES, read and checked; a missing file is a new, empty
    registry. The registry shipped in the package is refused: it is replaced by every upgrade."""
    chosen = registry_path(sources_file)
    if chosen is None or _is_shipped(Path(chosen)):
        raise ConfigError("the registry shipped in the package (aggregator/sources.toml) is never written: name "
                          "your own with --sources FILE or AGGREGATOR_SOURCES=FILE (a new file is created)")
    path = Path(chosen)
    if not path.exists():
        if not path.parent.is_dir():
            raise ConfigError("no folder %s to create the registry %s in" % (path.parent, path.name))
        return WritableRegistry(path, chosen, "", {})
    try:
        text, name = read_registry_text(chosen)
        sources = parse_registry(text, name) if "sources" in parse_document(text, name) else {}
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None
    return WritableRegistry(path, name, text, sources)


def _is_shipped(path: Path) -> bool:
    from importlib import resources

    shipped = resources.files("aggregator").joinpath("sources.toml")
    try:
        return path.resolve() == Path(str(shipped)).resolve()
    except OSError:
        return False


def _write(registry: WritableRegistry, new: list[NewSource]) -> str:
    """Append `new` to the registry file, checked whole first; returns the text appended."""
    try:
        text = with_sources(registry.text, registry.name, new)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None
    # through a symlink to the file it names: replacing the link would cut it off from that file
    write_atomically(str(registry.path.resolve()), text)
    return text[len(registry.text):].lstrip("\n")


def _name(*candidates: str | None) -> str | None:
    for candidate in candidates:
        text = " ".join(clean_text(candidate, NAME_LIMIT).split()) if candidate else ""
        if text:
            return text
    return None


def _http_url(url: str, hint: str) -> str:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises for a port that is not a number in 0-65535
    except ValueError:
        raise click.BadParameter("not a usable URL: %r" % shown_url(url), param_hint=hint) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise click.BadParameter("not an http(s) URL: %r" % shown_url(url), param_hint=hint)
    if "@" in parts.netloc:  # neither the probe nor the crawl can send them: they would be taken for the host
        raise click.BadParameter("a user name or password in the URL is not supported: %s" % shown_url(url),
                                 param_hint=hint)
    return url.strip()


@click.command("add", short_help="Find a site's feed (or sitemaps, or listing page) and add it to your registry.")
@click.argument("url")
@click.option("--key", default=None, help="The source's id (default: made from the site's host name).")
@click.option("--name", default=None, help="Display name (default: the site's or the feed's title).")
@click.option("--category", default=None, help="A folder name for readers and OPML.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=15.0, show_default=True,
              help="Seconds for each page fetched while probing.")
@sources_option
def add(url: str, key: str | None, name: str | None, category: str | None, timeout: float,
        sources_file: str | None) -> None:
    """Fetch URL, find the site's feeds (or sitemaps, or read it as a listing page) and add it as one source to
    the registry named by --sources / AGGREGATOR_SOURCES."""
    from aggregator.fetch.probe import ProbeError, Prober
    from aggregator.settings import USER_AGENT

    url = _http_url(url, "'URL'")
    registry = writable_registry(sources_file)
    known = registered_urls(registry.sources)
    already = registered_as(known, [url])
    if already:
        raise ConfigError("%s is already registered, as '%s'" % already)
    if key is not None:
        try:
            check_key(key, registry.name)
        except RegistryError as exc:
            raise click.BadParameter(str(exc), param_hint="--key") from None
        if key in registry.sources:
            raise ConfigError("the key '%s' is taken (by %s); choose another with --key" % (key, _shown(
                registry.sources[key])))
    contact = os.environ.get("AGGREGATOR_CONTACT_URL")  # as a crawl reads it (aggregator.ops.crawl)
    prober = Prober(timeout=timeout, user_agent="news-aggregator/0.1 (+%s)" % contact if contact else USER_AGENT)
    try:
        found = prober.probe(url)
    except ProbeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("Fetched %s (%s)" % (found.page.url, found.page.content_type or "no content type"))
    click.echo("Found: %s %s, %s" % (found.kind, " ".join(found.urls), found.how))
    for passed in found.passed_over:
        click.echo("  passed over: %s" % passed)
    if found.others:
        click.echo("Also announced, not added: %s" % " ".join(found.others))
    already = registered_as(known, [found.page.url, *found.urls])
    if already:
        raise ConfigError("%s is already registered, as '%s'" % already)
    if key is None:
        base = key_from_url(found.page.url)
        key = unique_key(base, registry.sources)
        host = urlsplit(found.page.url).hostname
        click.echo("Key: %s (from the host %s%s)" % (key, host, "; '%s' is taken" % base if key != base else ""))
    else:
        click.echo("Key: %s (given)" % key)
    fields: dict[str, Any] = {
        "name": _name(name, found.title, urlsplit(found.page.url).hostname),
        found.kind: found.urls[0] if len(found.urls) == 1 else list(found.urls),
        "homepage": found.homepage if found.homepage not in found.urls else None,
        "category": category,
    }
    try:
        check_source(key, fields, registry.name)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None
    added = _write(registry, [(key, fields)])
    click.echo("%s %s with source '%s' (%s):\n\n%s" % (
        "Added to" if registry.text else "Created", registry.name, key, found.kind, added), nl=False)


def _shown(source: Source) -> str:
    return "%s, %s %s" % (source.name, source.kind, " ".join(source.start_urls))


@click.group("opml")
def opml() -> None:
    """OPML 2.0 subscription lists: import one into the registry, export the registry as one."""


@opml.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@sources_option
def opml_import(file: str, sources_file: str | None) -> None:
    """Add every feed of the OPML FILE to the registry named by --sources / AGGREGATOR_SOURCES (folders become
    the `category` field); feeds already registered are skipped."""
    from aggregator.opml import OPMLError, parse_opml

    registry = writable_registry(sources_file)
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise click.FileError(file, hint=exc.strerror or str(exc)) from None
    try:
        subscriptions = parse_opml(data)
    except OPMLError as exc:
        raise ConfigError("%s: %s" % (file, exc)) from None
    known = registered_urls(registry.sources)
    listed: dict[str, str] = {}  # this file's feeds added so far
    taken = set(registry.sources)
    new: list[NewSource] = []
    exported: dict[str, int] = {}  # a key our export wrote -> its source's place in `new` (its other feeds join it)
    for ignored in subscriptions.ignored:
        click.echo("skipped %s" % ignored)
    for subscription in subscriptions.subscriptions:
        unusable = _unusable(subscription.feed)
        if unusable:
            click.echo("skipped %s: %s" % (shown_url(subscription.feed), unusable))
            continue
        already = registered_as(known, [subscription.feed])
        if already:
            click.echo("skipped %s: already registered, as '%s'" % (shown_url(already[0]), already[1]))
            continue
        twice = registered_as(listed, [subscription.feed])
        if twice:
            click.echo("skipped %s: listed before in this file, as '%s'" % (shown_url(twice[0]), twice[1]))
            continue
        if subscription.key in exported:  # another feed of one source of ours
            _add_feed(new, exported[subscription.key], subscription.feed, file, listed)
            continue
        homepage = subscription.homepage if _is_http(subscription.homepage) else None
        key = _kept_key(subscription.key, taken, file) or unique_key(key_from_url(homepage or subscription.feed),
                                                                     taken)
        fields: dict[str, Any] = {
            "name": _name(subscription.title, urlsplit(homepage or subscription.feed).hostname) or key,
            "feed": subscription.feed, "homepage": homepage, "category": subscription.category,
            "language": subscription.language}
        try:
            source = check_source(key, fields, file)
        except RegistryError as exc:
            click.echo("skipped %s: %s" % (shown_url(subscription.feed), str(exc).removeprefix(file + ": ")))
            continue
        if subscription.key:  # kept if it was free, else made anew: the source's other feeds join it all the same
            exported[subscription.key] = len(new)
        new.append((key, fields))
        taken.add(key)
        listed.update(registered_urls({key: source}))
        click.echo("adding %s: %s %s%s" % (key, fields["name"], subscription.feed,
                                           " [%s]" % subscription.category if subscription.category else ""))
    if not new:
        click.echo("Nothing to add: %s unchanged." % registry.name)
        return
    _write(registry, new)
    click.echo("%s %s with %d source%s from %s." % ("Added to" if registry.text else "Created", registry.name,
                                                    len(new), "" if len(new) == 1 else "s", file))


def _unusable(url: str) -> str | None:
    """Why `url` is no URL at all (a bad port, an unclosed bracket), else None; what the registry refuses of a
    URL that parses (`ftp://`) it says itself."""
    try:
        urlsplit(url).port  # noqa: B018 - raises for a port that is not a number in 0-65535
        canonical_url(url)
    except ValueError as exc:
        return "not a usable URL (%s)" % exc
    return None


def _kept_key(key: str | None, taken: set[str], file: str) -> str | None:
    """The key our export wrote for a feed's source, when the registry would take it and it is free."""
    if not key or key in taken:
        return None
    try:
        check_key(key, file)
    except RegistryError:
        return None
    return key


def _add_feed(new: list[NewSource], at: int, feed: str, file: str, listed: dict[str, str]) -> None:
    """Add `feed` to the source being imported at `new[at]` (one source of ours, exported as an outline per feed)."""
    key, fields = new[at]
    feeds = fields["feed"] if isinstance(fields["feed"], list) else [fields["feed"]]
    grown = {**fields, "feed": [*feeds, feed]}
    try:
        check_source(key, grown, file)
    except RegistryError as exc:
        click.echo("skipped %s: %s" % (shown_url(feed), str(exc).removeprefix(file + ": ")))
        return
    new[at] = (key, grown)
    listed[canonical_url(feed)] = key
    click.echo("adding %s to %s" % (feed, key))


def _is_http(url: str | None) -> bool:
    if not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


@opml.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output file, replaced whole or left as it was (default: standard output).")
@sources_option
def opml_export(output: str | None, sources_file: str | None) -> None:
    """Write the registry's feeds as OPML 2.0 (categories become folders). Sources without a feed URL
    (listings, sitemaps, homepages) have no place in OPML: they are named on standard error."""
    from aggregator.opml import render_opml

    registry = load_sources(sources_file)
    name = registry_path(sources_file) or "aggregator/sources.toml"
    text, left_out = render_opml(registry.values(), "news-aggregator sources (%s)" % Path(name).name,
                                 datetime.now(UTC))
    if output:
        write_atomically(output, text)
    else:
        click.echo(text, nl=False)
    for source in left_out:
        click.echo("not exported (no feed URL): %s (%s)" % (source.key, source.kind), err=True)
    if output:
        count = sum(len(source.feeds) for source in registry.values())
        click.echo("Wrote %d feed%s to %s." % (count, "" if count == 1 else "s", output))

