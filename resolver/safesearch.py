"""Safe search: search engines' hostnames answered through their safe-search hosts.

Each engine documents a host that forces safe results for a whole network when its
hostnames are answered as a CNAME to it: Google `forcesafesearch.google.com`, YouTube
`restrict.youtube.com` (strict) or `restrictmoderate.youtube.com`, Bing `strict.bing.com`,
DuckDuckGo `safe.duckduckgo.com`. Straja answers with the CNAME and the target's records
together, so the very first query works.
"""

from __future__ import annotations

from resolver.groups import SafeSearchSettings
from resolver.wire import text_to_name

# Google serves search on google.<tld> and google.co(m).<cc>; these are the domains Google
# lists for its search (supported_domains), kept in one place.
_GOOGLE_TLDS = [
    "com",
    "ad",
    "ae",
    "com.af",
    "com.ag",
    "al",
    "am",
    "co.ao",
    "com.ar",
    "as",
    "at",
    "com.au",
    "az",
    "ba",
    "com.bd",
    "be",
    "bf",
    "bg",
    "com.bh",
    "bi",
    "bj",
    "com.bn",
    "com.bo",
    "com.br",
    "bs",
    "bt",
    "co.bw",
    "by",
    "com.bz",
    "ca",
    "cd",
    "cf",
    "cg",
    "ch",
    "ci",
    "co.ck",
    "cl",
    "cm",
    "cn",
    "com.co",
    "co.cr",
    "com.cu",
    "cv",
    "com.cy",
    "cz",
    "de",
    "dj",
    "dk",
    "dm",
    "com.do",
    "dz",
    "com.ec",
    "ee",
    "com.eg",
    "es",
    "com.et",
    "fi",
    "com.fj",
    "fm",
    "fr",
    "ga",
    "ge",
    "gg",
    "com.gh",
    "com.gi",
    "gl",
    "gm",
    "gr",
    "com.gt",
    "gy",
    "com.hk",
    "hn",
    "hr",
    "ht",
    "hu",
    "co.id",
    "ie",
    "co.il",
    "im",
    "co.in",
    "iq",
    "is",
    "it",
    "je",
    "com.jm",
    "jo",
    "co.jp",
    "co.ke",
    "com.kh",
    "ki",
    "kg",
    "co.kr",
    "com.kw",
    "kz",
    "la",
    "com.lb",
    "li",
    "lk",
    "co.ls",
    "lt",
    "lu",
    "lv",
    "com.ly",
    "co.ma",
    "md",
    "me",
    "mg",
    "mk",
    "ml",
    "com.mm",
    "mn",
    "com.mt",
    "mu",
    "mv",
    "mw",
    "com.mx",
    "com.my",
    "co.mz",
    "com.na",
    "com.ng",
    "com.ni",
    "ne",
    "nl",
    "no",
    "com.np",
    "nr",
    "nu",
    "co.nz",
    "com.om",
    "com.pa",
    "com.pe",
    "com.pg",
    "com.ph",
    "com.pk",
    "pl",
    "pn",
    "com.pr",
    "ps",
    "pt",
    "com.py",
    "com.qa",
    "ro",
    "ru",
    "rw",
    "com.sa",
    "com.sb",
    "sc",
    "se",
    "com.sg",
    "sh",
    "si",
    "sk",
    "com.sl",
    "sn",
    "so",
    "sm",
    "sr",
    "st",
    "com.sv",
    "td",
    "tg",
    "co.th",
    "com.tj",
    "tl",
    "tm",
    "tn",
    "to",
    "com.tr",
    "tt",
    "com.tw",
    "co.tz",
    "com.ua",
    "co.ug",
    "co.uk",
    "com.uy",
    "co.uz",
    "com.vc",
    "co.ve",
    "co.vi",
    "com.vn",
    "vu",
    "ws",
    "rs",
    "co.za",
    "co.zm",
    "co.zw",
    "cat",
]

GOOGLE_TARGET = "forcesafesearch.google.com"
YOUTUBE_TARGETS = {"strict": "restrict.youtube.com", "moderate": "restrictmoderate.youtube.com"}
YOUTUBE_NAMES = (
    "www.youtube.com",
    "m.youtube.com",
    "youtubei.googleapis.com",
    "youtube.googleapis.com",
    "www.youtube-nocookie.com",
)
BING_TARGET = "strict.bing.com"
BING_NAMES = ("www.bing.com", "bing.com")
DUCKDUCKGO_TARGET = "safe.duckduckgo.com"
DUCKDUCKGO_NAMES = ("duckduckgo.com", "www.duckduckgo.com", "start.duckduckgo.com")


def safe_search_names(settings: SafeSearchSettings) -> dict[str, str]:
    """Hostname -> safe-search target, for the engines `settings` enables."""
    rewrites: dict[str, str] = {}
    if settings.google:
        for tld in _GOOGLE_TLDS:
            rewrites[f"google.{tld}"] = GOOGLE_TARGET
            rewrites[f"www.google.{tld}"] = GOOGLE_TARGET
    if settings.youtube != "off":
        for name in YOUTUBE_NAMES:
            rewrites[name] = YOUTUBE_TARGETS[settings.youtube]
    if settings.bing:
        for name in BING_NAMES:
            rewrites[name] = BING_TARGET
    if settings.duckduckgo:
        for name in DUCKDUCKGO_NAMES:
            rewrites[name] = DUCKDUCKGO_TARGET
    return rewrites


def safe_search_map(settings: SafeSearchSettings) -> dict[bytes, bytes]:
    """The same map in lowercase wire format, as the hot path looks it up."""
    return {text_to_name(k): text_to_name(v) for k, v in safe_search_names(settings).items()}
