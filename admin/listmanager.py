"""Getting list versions from their source to active: fetch, verify, compile, activate.

Used by `straja lists update` and `lists import` and by the daemon's refresher. Fetching is
a plain HTTPS GET with ETag/If-Modified-Since (standard library, so OpenWrt needs nothing
more); compiling runs in a separate process (`python -m admin.compile_job`), never inside a
serving one; activation is blocklists.store's, which verifies before anything changes.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blocklists import minisign
from blocklists.errors import ListError
from blocklists.spec import ListSpec
from blocklists.store import Activation, ListStore, Refused, clock_is_sane
from blocklists.summary import summary_details, summary_line

log = logging.getLogger("straja.lists")

USER_AGENT = "Straja list fetcher"
READ_TIMEOUT = 60.0  # one read may wait this long; the whole download lists[].timeout

Progress = Callable[[str, int, int | None], None]  # (what, bytes so far, total or None)


class FetchError(ListError):
    """The source could not be fetched; nothing changed."""


@dataclass
class Fetched:
    path: Path | None  # None when the source did not change (HTTP 304)
    signature_text: str | None
    etag: str | None = None
    last_modified: str | None = None


def _download(url: str, dest: Path, headers: dict[str, str], progress: Progress | None,
              timeout: float = 300.0, max_size: int = 256 * 1000 * 1000,
              ) -> tuple[int, dict[str, str]]:
    """GET `url` into `dest` within `timeout` seconds in all and `max_size` bytes."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=min(timeout, READ_TIMEOUT)) as response:
            total = response.headers.get("Content-Length")
            size = int(total) if total and total.isdigit() else None
            if size is not None and size > max_size:
                raise FetchError(f"{url}: the server announces {size} bytes, more than "
                                 f"the list's max_size of {max_size}")
            done = 0
            with open(dest, "wb") as out:
                # read1: whatever has arrived, so a trickle is checked against the deadline
                # between reads instead of blocking until a whole buffer is full
                while chunk := response.read1(1 << 16):
                    out.write(chunk)
                    done += len(chunk)
                    if done > max_size:
                        raise FetchError(f"{url}: the download passed the list's max_size "
                                         f"of {max_size} bytes and was stopped")
                    if time.monotonic() > deadline:
                        raise FetchError(f"{url}: the download took longer than the list's "
                                         f"timeout of {timeout:g}s and was stopped "
                                         f"({done} bytes in)")
                    if progress is not None:
                        progress(url, done, size)
            return int(response.status), dict(response.headers.items())
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return 304, {}
        raise FetchError(f"{url}: the server answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"{url}: cannot fetch: {reason}") from None


def fetch(spec: ListSpec, store: ListStore, workdir: Path, progress: Progress | None = None
          ) -> Fetched:
    """Bring the list's source (and its .minisig when signed) into `workdir`."""
    if not spec.is_url:
        source = Path(spec.source)
        if not source.exists():
            raise FetchError(f"list {spec.id}: the source file {source} does not exist")
        dest = workdir / source.name
        shutil.copyfile(source, dest)
        sig = minisign.signature_path_for(source)
        sig_text = sig.read_text() if sig.exists() else None
        return Fetched(dest, sig_text)
    status = store.status(spec.id)
    headers = {}
    if status.get("etag") and store.active_path(spec.id).exists():
        headers["If-None-Match"] = status["etag"]
    if status.get("last_modified") and store.active_path(spec.id).exists():
        headers["If-Modified-Since"] = status["last_modified"]
    dest = workdir / (Path(spec.source.split("?", 1)[0]).name or "list")
    code, response_headers = _download(spec.source, dest, headers, progress, spec.timeout,
                                       spec.max_size)
    if code == 304:
        return Fetched(None, None)
    sig_text = None
    if spec.signed:
        sig_dest = workdir / (dest.name + ".minisig")
        try:
            _download(spec.source + ".minisig", sig_dest, {}, None, spec.timeout, 65536)
            sig_text = sig_dest.read_text()
        except FetchError as exc:
            log.warning("list %s: no signature fetched: %s", spec.id, exc)
    return Fetched(dest, sig_text, response_headers.get("ETag"),
                   response_headers.get("Last-Modified"))


def compile_in_subprocess(source: Path, spec: ListSpec, serial: int, expires: int | None,
                          output: Path, origins: Path | None = None) -> dict[str, Any]:
    """Compile a source list in a separate process and return its summary
    (blocklists.summary); raise Refused with its error."""
    job = {
        "source": str(source), "format": spec.format, "output": str(output),
        "list_id": spec.id, "serial": serial, "tier": spec.tier,
        "category": spec.category, "expires": expires, "kind": spec.kind,
        "origins": str(origins) if origins is not None else None,
    }
    run = subprocess.run(
        [sys.executable, "-m", "admin.compile_job", json.dumps(job)],
        capture_output=True, text=True, timeout=3600,
    )
    if run.returncode != 0:
        detail = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise Refused(spec.id, f"the source does not compile: {detail}")
    for line in run.stderr.strip().splitlines()[:20]:
        log.warning("list %s: %s", spec.id, line)
    try:
        summary: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        summary = {}
    log.info("list %s: %s", spec.id, summary_line(summary))
    for line in summary_details(summary):
        log.info("list %s: %s", spec.id, line)
    return summary


def source_digest(path: Path) -> str:
    """SHA-256 of a source list as fetched (compiles of one source differ by their salt)."""
    from blocklists.store import file_sha256

    return file_sha256(path)


def install(spec: ListSpec, store: ListStore, path: Path, signature_text: str | None,
            workdir: Path, now: float | None = None) -> Activation:
    """Verify and activate a fetched or imported file (compiling it first if it is a source)."""
    now = time.time() if now is None else now
    if spec.format == "compiled":
        activation = store.activate(spec, path, signature_text, now=now)
        if activation.changed:  # a publisher's file: its entries only, no source text
            store.origins_path(spec.id).unlink(missing_ok=True)
            store.update_status(spec.id, summary=None)
        return activation
    try:
        verified = store.verify(spec, path, signature_text)
        expires = None
        if verified is not None:
            fields = minisign.parse_trusted_comment(verified.trusted_comment)
            if "list" not in fields or "serial" not in fields:
                raise Refused(spec.id, "the signed source has no 'list=ID serial=N' trusted "
                                       "comment; sign it with minisign -S -t \"list=ID serial=N\"")
            if fields["list"] != spec.id:
                raise Refused(spec.id, f"id mismatch: the signature is for list {fields['list']!r}")
            if not fields["serial"].isdigit():
                raise Refused(spec.id, f"the trusted comment's serial {fields['serial']!r} "
                                       "is not a number")
            serial = int(fields["serial"])
            try:
                expires = minisign.parse_expiry(fields["expires"]) if "expires" in fields else None
            except (ValueError, ListError) as exc:
                raise Refused(spec.id, f"the trusted comment's expiry is unreadable: {exc}"
                              ) from None
            if expires is not None and clock_is_sane(now) and now >= expires:
                raise Refused(spec.id, f"already expired when it arrived (serial {serial})")
        else:
            # Unsigned lists: the fetch time is the serial, past the active one, so that two
            # fetches within one second (the CLI beside the daemon) are not a conflict.
            active = int(store.status(spec.id).get("serial", 0) or 0)
            serial = max(int(now), active + 1)
        compiled = workdir / f"{spec.id}.sl"
        origins = workdir / f"{spec.id}.origins"
        summary = compile_in_subprocess(path, spec, serial, expires, compiled, origins)
    except Refused as exc:
        store.record_refusal(spec.id, exc.reason, now)
        raise
    activation = store.activate(spec, compiled, signature_text, verified=verified,
                                source_serial=serial, now=now,
                                source_sha256=source_digest(path))
    if activation.changed:
        store.keep_origins(spec.id, origins if origins.exists() else None)
        store.update_status(spec.id, summary=summary)
    return activation


def update(spec: ListSpec, store: ListStore, progress: Progress | None = None) -> Activation:
    """One refresh of one list: fetch, verify, compile if needed, activate.

    Raises FetchError or Refused; either way the active version keeps serving.
    """
    now = time.time()
    with tempfile.TemporaryDirectory(prefix=f"straja-{spec.id}-") as tmp:
        try:
            fetched = fetch(spec, store, Path(tmp), progress)
        except FetchError as exc:
            store.update_status(spec.id, last_check=int(now),
                                last_error={"time": int(now), "reason": str(exc)})
            raise
        if fetched.path is None:
            store.update_status(spec.id, last_check=int(now))
            serial = int(store.status(spec.id).get("serial", 0))
            return Activation(spec.id, serial, False, "not modified since the last fetch")
        activation = install(spec, store, fetched.path, fetched.signature_text, Path(tmp), now)
        if fetched.etag or fetched.last_modified:
            store.update_status(spec.id, etag=fetched.etag, last_modified=fetched.last_modified)
        return activation


def import_file(spec: ListSpec, store: ListStore, path: Path) -> Activation:
    """Activate a file brought in by hand (a USB stick at an air-gapped site)."""
    sig = minisign.signature_path_for(path)
    sig_text = sig.read_text() if sig.exists() else None
    with tempfile.TemporaryDirectory(prefix=f"straja-{spec.id}-") as tmp:
        return install(spec, store, path, sig_text, Path(tmp))


def due(spec: ListSpec, store: ListStore, now: float) -> bool:
    """Whether the list's refresh interval has passed since its last check."""
    last = store.status(spec.id).get("last_check")
    return last is None or now - float(last) >= spec.refresh


def refresh_all(specs: list[ListSpec], store: ListStore) -> None:
    """Update every list that is due (the daemon's periodic pass); errors are logged."""
    now = time.time()
    wanted = [spec for spec in specs if due(spec, store, now)]
    if not wanted:
        return
    # Each list in a thread of its own, so one slow source never holds up the others'
    # refresh (each is bounded by its own lists[].timeout); activations take the lock.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(wanted), 4)) as pool:
        list(pool.map(lambda spec: _refresh_one(spec, store), wanted))


def _refresh_one(spec: ListSpec, store: ListStore) -> None:
    try:
        result = update(spec, store)
        log.info("list %s: %s", spec.id, result.message)
    except ListError as exc:
        log.error("list %s: update failed, the active version keeps serving: %s", spec.id, exc)
    except OSError as exc:
        log.error("list %s: update failed, the active version keeps serving: %s", spec.id,
                  exc.strerror or exc)



def activate_missing_local(specs: list[ListSpec], state_dir: Path) -> None:
    """At start, activate local compiled lists that have no active version yet.

    A first run then blocks from the first query; anything remote or needing a compile is
    left to the refresher, so start-up stays fast.
    """
    store = ListStore(state_dir)
    for spec in specs:
        if spec.is_url or spec.format != "compiled" or store.active_path(spec.id).exists():
            continue
        try:
            result = update(spec, store)
            log.info("list %s: %s", spec.id, result.message)
        except ListError as exc:
            log.error("list %s: cannot activate at start: %s", spec.id, exc)
