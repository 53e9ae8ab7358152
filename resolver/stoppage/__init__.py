"""The STOP page: the HTTP server on the sinkhole address that explains a block and points to help.

`StopPageSettings`, `BlockInfo` and `ReportStore` import nothing heavy; `StopPage` (the
aiohttp server) is loaded on first use, so loading the config never imports aiohttp.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from resolver.settings import HostPort
from resolver.stoppage.reports import Report, ReportStore

if TYPE_CHECKING:
    from resolver.stoppage.server import StopPage

__all__ = ["BlockInfo", "Report", "ReportStore", "StopPage", "StopPageSettings"]


def _http_address(text: str) -> HostPort:
    return HostPort.parse(text, default_port=80)


def _https_address(text: str) -> HostPort:
    return HostPort.parse(text, default_port=443)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{1,30}$")
_EMAIL = re.compile(r"^[^@\s<>\"'()\[\],;:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


@dataclass(slots=True)
class StopPageSettings:
    """`stop_page:` where the STOP page listens, its language and each deployment's texts.

    Every text or link left unset (None) takes the default of `deployment`; see
    docs/stop-page.md for what each one is shown as.
    """

    enabled: bool = True
    # On a gateway: the sinkhole address, port 80 (root or CAP_NET_BIND_SERVICE).
    listen: list[HostPort] = field(
        default_factory=lambda: [HostPort("127.0.0.1", 8080)],
        metadata={"parse": _http_address},
    )
    # Accept TCP and close at once (port 443), so browsers fail fast instead of hanging.
    https_reject: list[HostPort] = field(
        default_factory=list, metadata={"parse": _https_address}
    )
    deployment: Literal["moldova", "international"] = "international"
    # The language when the browser's Accept-Language names none we have.
    language: Literal["en", "ro", "ru"] = "en"
    operator_name: str | None = None
    helpline_name: str | None = None
    helpline_url: str | None = None
    helpline_phone: str | None = None
    hotline_name: str | None = None
    hotline_url: str | None = None
    help_service_name: str | None = None
    help_service_url: str | None = None
    organisation_name: str | None = None
    organisation_url: str | None = None
    contact: str | None = None
    # The "this looks wrongly blocked" form on non-mandatory pages.
    report_form: bool = True
    # Stored reports per minute, all clients together; more get "try again later".
    reports_per_minute: int = 20

    def validate(self) -> None:
        """Raise ValueError naming the first key that cannot be used."""
        if self.enabled and not self.listen:
            raise ValueError("listen must name at least one host:port, or set enabled: false")
        addresses = [*self.listen, *self.https_reject]
        if len(set(addresses)) != len(addresses):
            raise ValueError("listen and https_reject name the same address twice")
        for key in ("operator_name", "helpline_name", "hotline_name", "help_service_name",
                    "organisation_name"):
            _check_text(key, getattr(self, key))
        for key in ("helpline_url", "hotline_url", "help_service_url", "organisation_url"):
            _check_url(key, getattr(self, key))
        if self.helpline_phone is not None and not _PHONE.match(self.helpline_phone):
            raise ValueError(
                f"helpline_phone {self.helpline_phone!r} is not a phone number; "
                "write digits, spaces and dashes, e.g. '116 111' or '+373 22 000 000'"
            )
        if self.contact is not None and not _EMAIL.match(self.contact):
            raise ValueError(
                f"contact {self.contact!r} is not an e-mail address, e.g. it@school.example"
            )
        if not 1 <= self.reports_per_minute <= 1000:
            raise ValueError("reports_per_minute must be between 1 and 1000")


def _check_text(key: str, value: str | None) -> None:
    if value is None:
        return
    if not value.strip():
        raise ValueError(f"{key} is empty; leave it out to use the deployment's default")
    if len(value) > 120 or _CONTROL.search(value):
        raise ValueError(f"{key} must be one line of at most 120 characters")


def _check_url(key: str, value: str | None) -> None:
    if value is None:
        return
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{key} {value!r} must be an http:// or https:// address with a host")
    if len(value) > 500 or _CONTROL.search(value) or " " in value:
        raise ValueError(f"{key} {value!r} must be a URL without spaces, at most 500 characters")


@dataclass(frozen=True, slots=True)
class BlockInfo:
    """Why a name is blocked, as far as the STOP page needs to know.

    `tier` is "mandatory", "operator" or "family"; `category` is the list's category from
    config, shown to the reader when set.
    """

    list_id: str
    tier: str
    category: str | None = None

    @property
    def mandatory(self) -> bool:
        """True for the lists the law requires (the deterrence page, no report form)."""
        return self.tier == "mandatory"


def __getattr__(name: str) -> Any:
    # StopPage needs aiohttp; import it only when someone asks for it.
    if name == "StopPage":
        from resolver.stoppage.server import StopPage

        return StopPage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
