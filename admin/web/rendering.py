"""Jinja2 templates with autoescape; Jinja2 is imported when the UI starts, never before."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from admin.web.texts import LANGUAGES, choose_language, text

if TYPE_CHECKING:
    from admin.web.views import FieldError

TEMPLATES = Path(__file__).parent / "templates"

# (path, text key) of the navigation, in order; the query log only when it is on.
NAV = (
    ("/", "nav_dashboard"), ("/health", "nav_health"), ("/lists", "nav_lists"),
    ("/check", "nav_check"), ("/overrides", "nav_overrides"), ("/groups", "nav_groups"),
    ("/reports", "nav_reports"), ("/audit", "nav_audit"), ("/querylog", "nav_querylog"),
    ("/transparency", "nav_transparency"),
)


def language(request: web.Request) -> str:
    """`?lang=` (the switch), else the `lang` cookie, else Accept-Language."""
    asked = request.query.get("lang")
    if asked in LANGUAGES:
        return asked
    return choose_language(request.cookies.get("lang"), request.headers.get("Accept-Language"))


def when(value: object) -> str:
    """A time (unix seconds, ISO text or datetime) as `2026-11-23 09:30 UTC`; `-` for none."""
    if value in (None, "", 0):
        return "-"
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(float(value), UTC)
    elif isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def percent(value: object) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f} %"  # type: ignore[arg-type]


class Templates:
    """The Jinja2 environment of the app and the context every page gets."""

    def __init__(self) -> None:
        import jinja2

        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["when"] = when
        self.env.filters["percent"] = percent

    def render(self, request: web.Request, template: str, data: Mapping[str, Any], *,
               title: str, error: FieldError | None, form: Mapping[str, str]) -> str:
        from admin.web.auth import principal_of
        from admin.web.state import STATE

        lang = language(request)
        me = principal_of(request)
        config = request.app[STATE].config
        nav = [(p, k) for p, k in NAV if p != "/querylog" or _query_log_on(config)]

        def t(key: str, **values: object) -> str:
            return text(lang, key, **values)

        return self.env.get_template(template).render(
            d=data, t=t, lang=lang, langs=LANGUAGES, me=me, title=t(title), nav=nav,
            path=request.path, error=error, form=form, done="done" in request.query,
            csrf=me.csrf if me is not None else request.get("login_csrf", ""),
            year=time.gmtime().tm_year,
        )


def _query_log_on(config: Any) -> bool:
    section = getattr(config, "query_log", None)
    return bool(getattr(section, "enabled", False))
