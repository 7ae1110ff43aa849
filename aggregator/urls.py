"""Canonical URLs: one spelling per article, so the same page reached by two links is one page.

Owns URL normalisation only (no fetching): fragment, tracking parameters, scheme/host case, default
port, query order, and trusting a page's own `rel=canonical` when it stays on the same site.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from w3lib.url import safe_url_string

logger = logging.getLogger(__name__)

# Parameters that only say who sent the reader; they never select content.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid",
        "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id",
        "vero_id", "wickedid", "rb_clickid", "s_cid", "cmpid", "ncid", "ocid", "sr_share", "ref_src",
        "ref_url", "spm", "share", "from", "xtor",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "at_", "itm_")
# Session ids a server writes into links: every visitor gets another spelling of the same page.
SESSION_PARAMS = frozenset({"phpsessid", "jsessionid", "sessionid", "cfid", "cftoken", "zenid", "oscsid"})
SESSION_PREFIXES = ("aspsessionid",)
_PATH_SESSION = re.compile(r";jsessionid=[^/;?#]*", re.IGNORECASE)
DEFAULT_PORTS = {"http": 80, "https": 443}
_DOT_SEGMENTS = re.compile(r"/\./|/[^/]+/\.\./")


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return (lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)
            or lowered in SESSION_PARAMS or lowered.startswith(SESSION_PREFIXES))


# Not w3lib's canonicalize_url: story ids derive from these URLs, and it spells many differently. It upper-cases
# percent-escapes in the path and decodes unreserved ones ("/%d0%bf" -> "/%D0%BF", "%7E" -> "~"; WordPress
# writes Cyrillic slugs in lower case), keeps default ports, a host's trailing dot and passwords, and resolves
# a trailing "/.." that we leave. Its query agrees with ours. Nor url_query_cleaner: it matches exact,
# case-sensitive names, and ours are also prefixes (utm_*) in any case.
def canonical_url(url: str) -> str:
    """Normalise `url`: drop the fragment, tracking parameters, password and default port; lowercase scheme
    and host; sort the remaining query parameters; percent-encode what is not yet (`safe_url_string`)."""
    parts = urlsplit(safe_url_string(url.strip()))
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:  # a non-numeric port: keep the URL as written rather than guess
        port = None
    netloc = "[%s]" % host if ":" in host else host  # an IPv6 address keeps its brackets
    if parts.username:
        netloc = "%s@%s" % (parts.username, netloc)
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        netloc = "%s:%d" % (netloc, port)
    path = _PATH_SESSION.sub("", parts.path) or "/"
    while _DOT_SEGMENTS.search(path):
        path = _DOT_SEGMENTS.sub("/", path, count=1)
    # Latin-1 maps each escaped byte to one character and back: an escape that is not UTF-8 keeps its byte
    # (as UTF-8 it would become U+FFFD, and two different URLs one canonical URL); for UTF-8 the bytes, and
    # so the sort order and the result, are the same as decoding them as UTF-8.
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True, encoding="latin-1")
             if not _is_tracking(k)]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query), encoding="latin-1"), ""))


def site_of(url: str) -> str:
    """The site a URL belongs to: its host without a leading `www.`."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def same_site(a: str, b: str) -> bool:
    return site_of(a) == site_of(b) and bool(site_of(a))


def resolve_canonical(page_url: str, declared: str | None) -> str:
    """The page's canonical URL: its `rel=canonical` when that stays on the same site (a canonical
    pointing at another outlet is a claim about the story, not this page's address), else the
    page URL itself, canonicalised either way."""
    if declared:
        target = urljoin(page_url, declared.strip())
        if urlsplit(target).scheme in ("http", "https") and same_site(page_url, target):
            return canonical_url(target)
        logger.debug("Ignoring rel=canonical %s on %s: another site", target, page_url)
    return canonical_url(page_url)


def canonical_claim(page_url: str, *declared: str | None) -> str | None:
    """The canonical URL a page declares (rel=canonical, og:url) on *another* site: the page says it is
    a copy of that one. None when every declaration stays on the page's own site."""
    for value in declared:
        if not value:
            continue
        target = urljoin(page_url, value.strip())
        if urlsplit(target).scheme in ("http", "https") and not same_site(page_url, target):
            return canonical_url(target)
    return None
