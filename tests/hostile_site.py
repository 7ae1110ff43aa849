"""The hostile fixture site: good articles mixed with every fault class, served by tests/faultserver.py.

`build(server, secret_base)` installs the routes and returns what a crawl must store and count. The
source is configured on the server's own loopback host (so that host is trusted by the SSRF guard); links
to the `secret` server, to 10.x and to the metadata address must never be fetched.
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from aggregator.testing.sitegen import SiteSpec, make_story, render_article
from tests.faultserver import FaultServer, bomb, drip, hang, huge, page, redirect, truncated

NOW = datetime.now(UTC).replace(microsecond=0)
MB = 1024 * 1024

RUSSIAN = ("правительство объявило строительство новой железной дороги между крупными городами региона министр "
           "транспорта сказал проект обойдётся несколько миллиардов рублей будет завершён через три года местные "
           "жители надеются дорога сократит время пути оживит торговлю врачи учителя студенты фермеры заводы "
           "школы больницы мосты реки леса горы степи зимой летом весной осенью вчера сегодня завтра область "
           "район посёлок деревня столица совет депутаты выборы бюджет налоги зарплаты цены хлеб молоко уголь "
           "нефть газ электричество вода тепло ремонт").split()
TURKISH = ("belediye başkanı şehir merkezindeki tarihi çarşının yenileneceğini açıkladı çalışmaların üç yıl "
           "süreceği esnafın geçici dükkânlarda hizmet vereceği belirtildi öğrenciler turistler projeyi "
           "memnuniyetle karşıladı ağaçlandırma için ayrı bütçe ayrıldı köprü liman otoyol havalimanı okul "
           "hastane çiftçi işçi öğretmen doktor kış yaz ilkbahar sonbahar dün bugün yarın ilçe köy mahalle meclis "
           "seçim vergi maaş fiyat ekmek süt kömür doğalgaz elektrik su ısınma onarım güneş rüzgâr").split()


def _text(rng: random.Random, words: list[str], sentences: int = 14) -> list[str]:
    out = []
    for _ in range(sentences):
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(9, 15)))
        out.append(sentence[0].upper() + sentence[1:] + ".")
    return [" ".join(out[i:i + 4]) for i in range(0, len(out), 4)]


def _page(title: str, paragraphs: list[str], meta: str = "", lang: str = "ru") -> str:
    body = "".join("<p>%s</p>" % html.escape(p) for p in paragraphs)
    return ('<!DOCTYPE html><html lang="%s"><head>%s<title>%s</title></head><body><article><h1>%s</h1>%s'
            "</article></body></html>" % (lang, meta, html.escape(title), html.escape(title), body))


def rss(base: str, items: list[tuple[str, str, str]], extra: str = "") -> str:
    """RSS 2.0 with (title, link, guid) items."""
    entries = "".join("<item><title>%s</title><link>%s</link><guid isPermaLink=\"false\">%s</guid><pubDate>%s"
                      "</pubDate></item>\n" % (html.escape(t), html.escape(link), html.escape(g),
                                               format_datetime(NOW - timedelta(hours=1)))
                      for t, link, g in items)
    return ('<?xml version="1.0" encoding="utf-8"?>\n%s<rss version="2.0"><channel><title>Hostile</title>'
            "<link>%s/</link>\n%s</channel></rss>\n" % (extra, base, entries))


@dataclass
class Expected:
    good: dict[str, str] = field(default_factory=dict)  # path -> a phrase its stored text must contain
    errors: dict[str, int] = field(default_factory=dict)  # aggregator/errors/<cause> -> count
    faults: dict[str, str] = field(default_factory=dict)  # path -> cause its log line must name
    never_fetched: list[str] = field(default_factory=list)  # URLs the SSRF guard must refuse
    entities_ignored: int = 0  # entity declarations in dropped DOCTYPEs (aggregator/feeds/entities_ignored)
    char_refs_replaced: int = 0  # aggregator/repaired/feed_char_refs


def build(server: FaultServer, secret_base: str) -> Expected:
    base = server.base_url
    routes = server.routes
    rng = random.Random(8)
    expected = Expected()
    site = SiteSpec(name="Hostile Herald")

    def good(path: str, content_type: str = "text/html; charset=utf-8") -> str:
        story = make_story(rng, len(expected.good), NOW - timedelta(hours=2))
        routes[path] = page(render_article(site, story, []).replace("{{BASE}}", base).replace(
            "/news/%s" % story.slug, path), content_type)
        expected.good[path] = story.paragraphs[0][:60]
        return story.title

    main_items = [(good("/news/good-%d" % i), base + "/news/good-%d" % i, "good-%d" % i) for i in range(5)]

    # Charsets: (path, bytes, Content-Type) -- each page is the right text once decoded right.
    def encoded(path: str, words: list[str], encoding: str, content_type: str, meta: str = "",
                lang: str = "ru") -> None:
        paragraphs = _text(rng, words)
        routes[path] = page(_page("%s %s" % (words[0], path), paragraphs, meta, lang).encode(encoding),
                            content_type)
        expected.good[path] = paragraphs[0][:60]
        main_items.append(("charset " + path, base + path, path))

    encoded("/news/cp1251-undeclared", RUSSIAN, "cp1251", "text/html")
    encoded("/news/koi8r-wrong-header", RUSSIAN, "koi8-r", "text/html; charset=utf-8", '<meta charset="koi8-r">')
    encoded("/news/koi8r-undeclared", RUSSIAN, "koi8-r", "text/html")
    encoded("/news/iso88599-meta-only", TURKISH, "iso-8859-9", "text/html",
            '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-9">', "tr")
    encoded("/news/iso88599-wrong-header", TURKISH, "iso-8859-9", "text/html; charset=utf-8",
            '<meta charset="iso-8859-9">', "tr")
    encoded("/news/utf8-latin1-header", RUSSIAN, "utf-8", "text/html; charset=iso-8859-1")
    encoded("/news/utf8-wrong-meta", TURKISH, "utf-8", "text/html", '<meta charset="windows-1251">', "tr")
    # HTML served as XML is still an article page.
    main_items.append((good("/news/html-as-xml", "application/xml"), base + "/news/html-as-xml", "html-as-xml"))

    def fault(path: str, route: object, cause: str | None, count: bool = True) -> None:
        routes[path] = route  # type: ignore[assignment]
        main_items.append(("fault " + path, base + path, path))
        if cause:
            expected.faults[path] = cause
            if count:
                expected.errors[cause] = expected.errors.get(cause, 0) + 1

    fault("/fault/timeout", hang(8), "timeout")
    fault("/fault/drip", drip(0.25), "timeout")
    fault("/fault/503", page("busy", status=503, headers={"Retry-After": "1"}), "http_503")
    fault("/fault/500", page("oops", status=500, headers={"Retry-After": "120"}), "http_500")
    fault("/fault/404", page("gone", status=404), "http_404")
    fault("/fault/410", page("gone for good", status=410), "http_410")
    fault("/fault/loop-a", redirect(base + "/fault/loop-b"), "redirect_loop")
    routes["/fault/loop-b"] = redirect(base + "/fault/loop-a")
    fault("/fault/redirects/0", redirect(base + "/fault/redirects/1"), "too_many_redirects")
    for n in range(1, 12):
        routes["/fault/redirects/%d" % n] = redirect(base + "/fault/redirects/%d" % (n + 1))
    fault("/fault/truncated", truncated(b"<html><body><p>" + b"cut " * 500, 40_000), "truncated")
    fault("/fault/gzip-bomb", bomb("gzip", 64 * MB), "decompression_bomb")
    fault("/fault/deflate-bomb", bomb("deflate", 64 * MB), "decompression_bomb")
    fault("/fault/huge-declared", huge(50 * MB, declare_length=True), "too_large")
    fault("/fault/huge-streamed", huge(50 * MB, declare_length=False), "too_large")
    fault("/files/report.pdf", page(b"%PDF-1.4\n" + bytes(200_000), "application/pdf"), "not_html")
    fault("/files/photo.jpg", page(b"\xff\xd8\xff\xe0" + bytes(100_000), "image/jpeg"), "not_html")
    fault("/news/empty", page(b""), None)
    fault("/news/js-only", page("<html><head><script src='/app.js'></script></head><body><div id=app></div>"
                                "<script>render()</script></body></html>"), None)
    fault("/fault/redirect-to-secret", redirect(secret_base + "/secret/redirected"), "ssrf_refused")
    for url in (secret_base + "/secret/linked", "http://169.254.169.254/latest/meta-data/",
                "http://10.255.255.1/internal", "http://0x7f.0.0.1:9/secret/hex"):
        main_items.append(("ssrf", url, url))
        expected.never_fetched.append(url)
    expected.errors["ssrf_refused"] = 1 + len(expected.never_fetched)
    main_items.append(("bad link", "http://127.0.0.60:99999/news/x", "bad-link"))
    expected.errors["bad_link"] = 1

    routes["/feed.rss"] = page(rss(base, main_items), "application/rss+xml")
    # A feed served as text/html still reads as a feed.
    html_items = [(good("/news/html-feed-%d" % i), base + "/news/html-feed-%d" % i, "hf-%d" % i) for i in range(2)]
    routes["/feeds/as-html"] = page(rss(base, html_items), "text/html; charset=utf-8")
    # Truncated mid-entry: malformed, but its complete entries are used.
    cut_items = [(good("/news/cut-feed-%d" % i), base + "/news/cut-feed-%d" % i, "cf-%d" % i) for i in range(2)]
    cut = rss(base, cut_items + [("lost", base + "/news/never-announced", "x")])
    routes["/feeds/truncated"] = page(cut[: cut.index("never-announced") - 20], "application/rss+xml")
    routes["/feeds/garbage"] = page(b"\x00\x01 this is not a feed \xff\xfe <<<", "application/rss+xml")
    expected.errors["feed_unusable"] = 1
    # Entity declarations are dropped unread (nothing expanded, no DTD loaded): the entries are kept.
    lol = ('<!DOCTYPE rss [<!ENTITY a "lollollollol">' + "".join(
        '<!ENTITY %s "%s">' % (chr(98 + i), ("&%s;" % chr(97 + i)) * 10) for i in range(8)) + "]>\n")
    routes["/feeds/billion-laughs"] = page(rss(base, [("&i; laughs", base + "/news/lol", "lol")], lol)
                                           .replace("&amp;i;", "&i;"), "application/rss+xml")
    xxe = '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    routes["/feeds/xxe"] = page(rss(base, [("&xxe;", base + "/news/xxe", "xxe")], xxe).replace("&amp;xxe;", "&xxe;"),
                                "application/rss+xml")
    # A harmless entity, an XXE example quoted in the text, invalid character references: all entries kept.
    odd = rss(base, [("Caf&eacute;&nbsp;news", base + "/news/odd-entity", "oe"),
                     ("How XXE works", base + "/news/odd-quoted", "oq"),
                     ("bad &#xD800; and &#x110000; refs", base + "/news/odd-refs", "or")],
              '<!DOCTYPE rss [<!ENTITY nbsp "&#160;">]>\n').replace("&amp;", "&").replace(
        "<link>%s/news/odd-quoted</link>" % base, "<link>%s/news/odd-quoted</link><description><![CDATA[<!DOCTYPE "
        'foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>]]></description>' % base)
    routes["/feeds/odd-xml"] = page(odd, "application/rss+xml")
    for slug in ("lol", "xxe", "odd-entity", "odd-quoted", "odd-refs"):
        good("/news/" + slug)
    expected.entities_ignored = 9 + 1 + 1
    expected.char_refs_replaced = 2
    return expected


def guid_feed(base: str, generation: int) -> str:
    """Two links under one guid, and one link under two guids that change on every crawl."""
    return rss(base, [("A", base + "/news/guid-a", "shared"), ("B", base + "/news/guid-b", "shared"),
                      ("C", base + "/news/guid-c", "c-%d" % generation),
                      ("C again", base + "/news/guid-c", "c-%d-bis" % generation)])


SOURCES = """
[sources.hostile]
name = "Hostile Herald"
feed = ["%(base)s/feed.rss", "%(base)s/feeds/as-html", "%(base)s/feeds/truncated", "%(base)s/feeds/garbage",
        "%(base)s/feeds/billion-laughs", "%(base)s/feeds/xxe", "%(base)s/feeds/odd-xml"]
"""


def article_page(slug: str) -> str:
    """A plain article page of its own text (for the guid feeds)."""
    rng = random.Random(slug)
    story = make_story(rng, 0, NOW - timedelta(hours=3))
    story.slug = slug
    return render_article(SiteSpec(name="Guids"), story, []).replace("{{BASE}}", "")
