"""The STOP page's HTML: self-contained pages (inline CSS and SVG, nothing fetched from elsewhere).

Every value from outside (the name, the list id, settings) is escaped here; translations are
plain text and are escaped too, so no text can carry markup into a page.
"""

from __future__ import annotations

import html
import re

from resolver.stoppage import BlockInfo
from resolver.stoppage.texts import LANGUAGES, TEXTS, Contacts

REPORT_PATH = "/.straja/report"


class Html(str):
    """Markup that is already safe to insert as it is."""


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(template: str, **values: str) -> Html:
    """The template escaped, with each {placeholder} replaced by its value (escaped unless
    it is Html)."""
    out: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(template):
        out.append(html.escape(template[pos : m.start()]))
        value = values[m.group(1)]
        out.append(value if isinstance(value, Html) else html.escape(value))
        pos = m.end()
    out.append(html.escape(template[pos:]))
    return Html("".join(out))


def link(text: str, url: str | None) -> Html:
    """An outgoing link (no referrer), or the plain text when there is no URL."""
    if not url:
        return Html(html.escape(text))
    return Html(
        f'<a href="{html.escape(url)}" rel="noopener noreferrer">{html.escape(text)}</a>'
    )


def _name(name: str) -> Html:
    return Html(f'<strong class="name">{html.escape(name)}</strong>')


def _phone(phone: str) -> Html:
    digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    return Html(f'<a class="phone" href="tel:{digits}">{html.escape(phone)}</a>')


def _p(content: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{content}</p>"


# Sober for the law page; soft and friendly for the others. System fonts only.
_CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:17px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",
"DejaVu Sans",sans-serif;display:flex;flex-direction:column;min-height:100vh;
align-items:center;padding:24px 14px}
main{width:100%;max-width:40rem;background:#fff;border-radius:14px;padding:28px 24px;
box-shadow:0 2px 10px rgba(0,0,0,.08)}
h1{font-size:1.55rem;line-height:1.25;margin:.6rem 0 1rem}
h2{font-size:1.1rem;margin:0 0 .4rem}
p{margin:0 0 .9rem}
a{color:inherit;text-decoration-thickness:1px;text-underline-offset:2px}
.icon{display:block;width:64px;height:64px}
.name{overflow-wrap:anywhere}
.box{border-radius:10px;padding:14px 16px;margin:1.1rem 0}
.box p:last-child{margin-bottom:0}
.small{font-size:.9rem}
.phone{font-weight:700;white-space:nowrap}
button{font:inherit;border:0;border-radius:999px;padding:.6rem 1.2rem;cursor:pointer}
footer{width:100%;max-width:40rem;margin-top:16px;font-size:.85rem;text-align:center}
footer p{margin:.3rem 0}
nav a{margin:0 .4rem}
nav a[aria-current]{font-weight:700;text-decoration:none}
body.law{background:#eceef1;color:#1d2430}
.law main{border-top:6px solid #9b1c1c}
.law .box{background:#f4f5f7;border-left:4px solid #3a4a63}
.law a{color:#1a3f8f}
body.calm{background:#e8f4f8;color:#213547}
.calm main{border-top:6px solid #4aa3c7}
.calm .fine{font-size:1.2rem;font-weight:700;color:#1f6f5c}
.calm .box{background:#f1f8fb}
.calm a{color:#17618a}
.calm .report{background:#fbf7ee}
.calm button{background:#17618a;color:#fff}
.calm button:focus-visible,.calm a:focus-visible{outline:3px solid #f0b429;outline-offset:2px}
""".replace("\n", "")

_ICON_LAW = (
    '<svg class="icon" viewBox="0 0 64 64" aria-hidden="true">'
    '<polygon points="19,2 45,2 62,19 62,45 45,62 19,62 2,45 2,19" fill="#9b1c1c"/>'
    '<rect x="14" y="28" width="36" height="8" rx="2" fill="#fff"/></svg>'
)
_ICON_CALM = (
    '<svg class="icon" viewBox="0 0 64 64" aria-hidden="true">'
    '<path d="M32 4 56 13v17c0 15-10 26-24 30C18 56 8 45 8 30V13z" fill="#4aa3c7"/>'
    '<path d="M32 46s-12-7-12-15a6.5 6.5 0 0 1 12-3.5A6.5 6.5 0 0 1 44 31c0 8-12 15-12 15z" '
    'fill="#fff"/></svg>'
)


def _layout(lang: str, tone: str, title: str, body: list[str], contacts: Contacts) -> str:
    t = TEXTS[lang]
    icon = _ICON_LAW if tone == "law" else _ICON_CALM
    footer = [_p(html.escape(t["footer"]))]
    if contacts.contact:
        mail = link(contacts.contact, f"mailto:{contacts.contact}")
        footer.append(_p(fill(t["contact"], contact=mail)))
    switch = " ".join(
        f'<a href="?lang={code}" hreflang="{code}" lang="{code}"'
        + (' aria-current="true"' if code == lang else "")
        + f">{html.escape(TEXTS[code]['language_name'])}</a>"
        for code in LANGUAGES
    )
    return (
        f'<!doctype html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f'<body class="{tone}">\n<main>\n{icon}\n'
        + "\n".join(body)
        + f"\n</main>\n<footer>\n{''.join(footer)}\n<nav>{switch}</nav>\n</footer>\n"
        "</body>\n</html>\n"
    )


def mandatory_page(lang: str, contacts: Contacts) -> str:
    """The deterrence page for names on a mandatory list: blocked by law, the harm, the
    crime, anonymous help. No name, no list id, no threat, no claim the visit is recorded."""
    t = TEXTS[lang]
    help_link = link(contacts.help_service_name, contacts.help_service_url)
    hotline = link(contacts.hotline_name, contacts.hotline_url)
    body = [
        f"<h1>{html.escape(t['m_heading'])}</h1>",
        _p(html.escape(t["m_what"])),
        _p(html.escape(t["m_harm"])),
        '<div class="box">',
        f"<h2>{html.escape(t['m_help_heading'])}</h2>",
        _p(fill(t["m_help"], link=help_link)),
        "</div>",
        _p(fill(t["m_report"], hotline=hotline)),
        _p(html.escape(t["m_accident"]), "small"),
    ]
    return _layout(lang, "law", t["m_title"], body, contacts)


def blocked_page(
    lang: str, contacts: Contacts, name: str, info: BlockInfo, form: bool
) -> str:
    """The calm page for names on operator and family lists: why, "you did nothing wrong",
    a trusted adult and the child helpline, the hotline, and the wrongly-blocked form."""
    t = TEXTS[lang]
    kind = "family" if info.tier == "family" else "operator"
    named = "_named" if contacts.operator_name else ""
    reason = fill(
        t[f"c_reason_{kind}{named}"], name=_name(name), operator=contacts.operator_name or ""
    )
    why = fill(t["c_list"], list=info.list_id)
    if info.category:
        why = Html(why + " " + fill(t["c_category"], category=info.category))
    helpline = link(contacts.helpline_name, contacts.helpline_url)
    if contacts.helpline_phone:
        talk = fill(t["c_talk_phone"], phone=_phone(contacts.helpline_phone), helpline=helpline)
    else:
        talk = fill(t["c_talk_url"], helpline=helpline)
    body = [
        f"<h1>{html.escape(t['c_heading'])}</h1>",
        _p(reason),
        _p(why, "small"),
        _p(html.escape(t["c_fine"]), "fine"),
        _p(html.escape(t["c_fine_more"])),
        '<div class="box">',
        f"<h2>{html.escape(t['c_talk_heading'])}</h2>",
        _p(talk),
        "</div>",
        _p(fill(t["c_hotline"], hotline=link(contacts.hotline_name, contacts.hotline_url))),
    ]
    if contacts.organisation_name:
        org = link(contacts.organisation_name, contacts.organisation_url)
        body.append(_p(fill(t["c_organisation"], organisation=org)))
    if form:
        body += [
            f'<form class="box report" method="post" action="{REPORT_PATH}">',
            f"<h2>{html.escape(t['c_form_heading'])}</h2>",
            _p(fill(t["c_form_text"], name=_name(name))),
            f'<input type="hidden" name="name" value="{html.escape(name)}">',
            f'<input type="hidden" name="list" value="{html.escape(info.list_id)}">',
            f'<input type="hidden" name="lang" value="{lang}">',
            f"<button type=\"submit\">{html.escape(t['c_form_button'])}</button>",
            "</form>",
        ]
    return _layout(lang, "calm", t["c_title"], body, contacts)


def not_blocked_page(lang: str, contacts: Contacts, name: str) -> str:
    """For a name no list blocks (a stale DNS answer) or a request without a usable name."""
    t = TEXTS[lang]
    text = fill(t["n_text"], name=_name(name)) if name else html.escape(t["n_no_name"])
    body = [f"<h1>{html.escape(t['n_heading'])}</h1>", _p(text)]
    return _layout(lang, "calm", t["n_title"], body, contacts)


def message_page(
    lang: str, contacts: Contacts, title_key: str, text_key: str, name: str = ""
) -> str:
    """A short answer (thank you, refused, too many, errors) with a way back."""
    t = TEXTS[lang]
    body = [
        f"<h1>{html.escape(t[title_key])}</h1>",
        _p(fill(t[text_key], name=_name(name))),
        _p(f'<a href="/?lang={lang}">{html.escape(t["r_back"])}</a>'),
    ]
    return _layout(lang, "calm", t[title_key], body, contacts)
