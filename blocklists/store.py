"""The lists' state in `state_dir`: active versions (the last-known-good), status, activation.

Layout under `state_dir/lists/`:

    generation              bumped on every activation; serving processes watch its mtime
    .lock                   flock'ed while activating, so CLI and daemon never interleave
    <id>/active.sl          the active compiled file, opened with mmap by every worker
    <id>/active.sl.minisig  its signature (compiled lists) or the source's (source lists)
    <id>/status.json        serial, key, times, last check, refusals (counted per kind of
                            reason in `refusal_kinds`) and the last one's reason, and the
                            last compile's summary (source lists)
    <id>/active.origins     device-compiled public lists: each entry's source line and rule
                            text, for `straja check` (never inside the list file)

A candidate replaces the active version only after it verified and opened; the swap is a
rename, so a worker that still maps the old file keeps reading the old inode until it remaps.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blocklists.errors import ListError
from blocklists.spec import ListSpec
from blocklists.trie import CompiledList, ListHeader

if TYPE_CHECKING:
    from blocklists import minisign

log = logging.getLogger("straja.lists")

# Straja's own release time: a clock earlier than this is unset (no RTC before NTP), so
# expiry is not judged against it.
RELEASE_TIME = 1_793_491_200  # 2026-11-01T00:00:00Z


class Refused(ListError):
    """A candidate list version was refused; the active version keeps serving."""

    def __init__(self, list_id: str, reason: str) -> None:
        super().__init__(f"list {list_id}: refused: {reason}")
        self.list_id = list_id
        self.reason = reason


# Refusal reasons as short labels (the `reason` of straja_list_refusals_total), by the
# opening words of the sentences Refused carries; first match wins.
_REFUSAL_KINDS = (
    ("missing signature", "missing_signature"),
    ("unknown key", "unknown_key"),
    ("bad signature", "bad_signature"),
    ("unusable signature", "bad_signature"),
    ("truncated or corrupt", "corrupt"),
    ("the source does not compile", "corrupt"),
    ("id mismatch", "id_mismatch"),
    ("tier mismatch", "tier_mismatch"),
    ("rollback", "rollback"),
    ("already expired", "expired"),
    ("the signature's serial", "serial_mismatch"),
    ("the signed source has no", "bad_trusted_comment"),
    ("the trusted comment", "bad_trusted_comment"),
)


def refusal_kind(reason: str) -> str:
    """The label of a refusal reason: `rollback`, `bad_signature`, `expired`, ..."""
    for start, kind in _REFUSAL_KINDS:
        if reason.startswith(start):
            return kind
    if reason.startswith("serial ") and "equals the active one" in reason:
        return "same_serial"
    return "other"


@dataclass(frozen=True)
class Activation:
    """What an activation did."""

    list_id: str
    serial: int
    changed: bool  # False when the candidate was the active version already
    message: str


def clock_is_sane(now: float, header: ListHeader | None = None) -> bool:
    """False while the clock is obviously unset: before our release or the file's issue time."""
    floor = RELEASE_TIME if header is None else max(RELEASE_TIME, header.issued)
    return now >= floor


def load_keys(spec: ListSpec) -> list[minisign.PublicKey]:
    """The pinned keys of a list, parsed (a MalformedKeyError names the bad one)."""
    from blocklists import minisign  # cryptography: only when verifying, never to serve

    return [minisign.PublicKey.parse(k) for k in spec.keys]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, hex, read a megabyte at a time."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ListStore:
    """Reads and changes the lists' state under `state_dir/lists`."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.root = Path(state_dir) / "lists"

    def list_dir(self, list_id: str) -> Path:
        return self.root / list_id

    def active_path(self, list_id: str) -> Path:
        return self.root / list_id / "active.sl"

    def origins_path(self, list_id: str) -> Path:
        """The side file with the source text of the active version's entries."""
        return self.root / list_id / "active.origins"

    def keep_origins(self, list_id: str, path: Path | None) -> None:
        """Make `path` the active version's side file (None: it has none)."""
        target = self.origins_path(list_id)
        if path is None:
            target.unlink(missing_ok=True)
            return
        temp = target.with_name(".active.origins.tmp")
        shutil.copyfile(path, temp)
        os.replace(temp, target)

    def origin_of(self, list_id: str, name: str) -> tuple[int, str] | None:
        """(line, rule as written) of the first source rule for `name`, from the side file."""
        prefix = name + "\t"
        try:
            with open(self.origins_path(list_id), encoding="utf-8") as side:
                for line in side:
                    if line.startswith(prefix):
                        _, number, text = line.rstrip("\n").split("\t", 2)
                        return int(number), text
        except (OSError, ValueError):
            return None
        return None

    @property
    def generation_path(self) -> Path:
        return self.root / "generation"

    def generation(self) -> int:
        try:
            return int(self.generation_path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def generation_stamp(self) -> float:
        """The generation file's mtime (0 when absent): what serving processes poll."""
        try:
            return self.generation_path.stat().st_mtime_ns / 1e9
        except OSError:
            return 0.0

    def bump_generation(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.generation_path.with_suffix(".tmp")
        tmp.write_text(f"{self.generation() + 1}\n")
        os.replace(tmp, self.generation_path)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # -- status ------------------------------------------------------------------------

    def status(self, list_id: str) -> dict[str, Any]:
        try:
            data = json.loads((self.list_dir(list_id) / "status.json").read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def update_status(self, list_id: str, **changes: Any) -> dict[str, Any]:
        status = self.status(list_id)
        status.update(changes)
        directory = self.list_dir(list_id)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / "status.json.tmp"
        _write_replacing(tmp, directory / "status.json",
                         (json.dumps(status, indent=2, sort_keys=True) + "\n").encode())
        return status

    def record_refusal(self, list_id: str, reason: str, now: float | None = None) -> None:
        """Log and count a refusal; the active version is untouched."""
        now = time.time() if now is None else now
        status = self.status(list_id)
        kinds = status.get("refusal_kinds")
        kinds = dict(kinds) if isinstance(kinds, dict) else {}
        kind = refusal_kind(reason)
        kinds[kind] = int(kinds.get(kind, 0)) + 1
        log.error("list %s: candidate refused, the active version keeps serving: %s",
                  list_id, reason)
        try:
            self.update_status(
                list_id,
                refusals=int(status.get("refusals", 0)) + 1,
                refusal_kinds=kinds,
                last_refusal={"time": int(now), "reason": reason},
                last_check=int(now),
            )
        except OSError as exc:
            log.error("list %s: cannot record the refusal in %s: %s", list_id,
                      self.list_dir(list_id), exc.strerror or exc)

    # -- activation --------------------------------------------------------------------

    @staticmethod
    def _install(directory: Path, candidate: Path, active: Path,
                 signature_text: str | None) -> None:
        """Write the candidate and its signature beside the active ones, then rename both
        over. A failed write (a full disk) removes the temporary files and leaves the
        active version as it was; the renames need no space."""
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / "active.sl.tmp"
        sig_path = directory / "active.sl.minisig"
        sig_tmp = directory / "active.sl.minisig.tmp"
        try:
            shutil.copyfile(candidate, tmp)
            if signature_text is not None:
                sig_tmp.write_text(signature_text)
        except OSError:
            for path in (tmp, sig_tmp):
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        os.replace(tmp, active)
        if signature_text is not None:
            os.replace(sig_tmp, sig_path)
        elif sig_path.exists():
            sig_path.unlink()

    def verify(
        self, spec: ListSpec, path: Path, signature_text: str | None
    ) -> minisign.Verified | None:
        """Check `path` against the list's pinned keys; None for `signed: false` lists."""
        if not spec.signed:
            return None
        from blocklists import minisign

        if signature_text is None:
            raise Refused(spec.id, "missing signature: no .minisig beside the file")
        try:
            keys = load_keys(spec)
            return minisign.verify_file(path, signature_text, keys)
        except minisign.UnknownKeyError as exc:
            raise Refused(spec.id, f"unknown key: {exc}") from None
        except minisign.BadTrustedCommentError as exc:
            raise Refused(spec.id, f"bad signature (trusted comment): {exc}") from None
        except minisign.BadSignatureError as exc:
            raise Refused(spec.id, f"bad signature: {exc}") from None
        except minisign.SignatureError as exc:
            raise Refused(spec.id, f"unusable signature: {exc}") from None

    def activate(
        self,
        spec: ListSpec,
        candidate: Path,
        signature_text: str | None,
        *,
        verified: minisign.Verified | None = None,
        source_serial: int | None = None,
        now: float | None = None,
        source_sha256: str | None = None,
    ) -> Activation:
        """Verify, open and check a compiled candidate, then make it the active version.

        `verified` is given when the signature was checked on a source list this file was
        compiled from (then `signature_text` is that source's signature, kept for audit);
        `source_sha256` is that source's digest: the same source compiled again (by the
        daemon and the CLI at once, say) is the active version already, even though every
        compile draws a new salt.
        Raises Refused with the reason; the refusal is recorded in the list's status.
        """
        now = time.time() if now is None else now
        with self.locked():
            try:
                return self._activate(spec, candidate, signature_text, verified, source_serial,
                                      now, source_sha256)
            except Refused as exc:
                self.record_refusal(spec.id, exc.reason, now)
                raise

    def _activate(
        self,
        spec: ListSpec,
        candidate: Path,
        signature_text: str | None,
        verified: minisign.Verified | None,
        source_serial: int | None,
        now: float,
        source_sha256: str | None = None,
    ) -> Activation:
        if verified is None:
            verified = self.verify(spec, candidate, signature_text)
        try:
            with CompiledList.open(candidate) as lst:
                header = lst.header
                lst.verify_integrity()
        except ListError as exc:
            raise Refused(spec.id, f"truncated or corrupt file: {exc}") from None
        if header.list_id != spec.id:
            raise Refused(spec.id, f"id mismatch: the file is list {header.list_id!r}")
        if header.tier != spec.tier:
            raise Refused(
                spec.id,
                f"tier mismatch: the signed header says {header.tier} but the config says "
                f"{spec.tier}; the header wins, so correct tier: in the config",
            )
        if header.kind != spec.kind:
            raise Refused(
                spec.id,
                f"kind mismatch: the signed header says kind {header.kind} but the config "
                f"says {spec.kind}; correct kind: in the config",
            )
        if verified is not None and source_serial is None:
            from blocklists import minisign

            fields = minisign.parse_trusted_comment(verified.trusted_comment)
            if fields.get("list") not in (None, spec.id):
                raise Refused(spec.id, f"id mismatch: the signature is for list {fields['list']!r}")
            if "serial" in fields and fields["serial"] != str(header.serial):
                raise Refused(
                    spec.id,
                    f"the signature's serial {fields['serial']} differs from the header's "
                    f"{header.serial}",
                )
        serial = header.serial if source_serial is None else source_serial
        if header.expires is not None and clock_is_sane(now, header) and now >= header.expires:
            raise Refused(spec.id, f"already expired when it arrived (serial {serial})")
        digest = file_sha256(candidate)
        status = self.status(spec.id)
        active = self.active_path(spec.id)
        if active.exists():
            active_serial = int(status.get("serial", -1))
            if serial < active_serial:
                raise Refused(
                    spec.id, f"rollback: serial {serial} is lower than the active {active_serial}"
                )
            if serial == active_serial:
                same_source = source_sha256 is not None and \
                    status.get("source_sha256") == source_sha256
                if status.get("sha256") == digest or same_source:
                    self.update_status(spec.id, last_check=int(now))
                    return Activation(spec.id, serial, False, f"serial {serial} is already active")
                raise Refused(
                    spec.id, f"serial {serial} equals the active one but the content differs"
                )
        directory = self.list_dir(spec.id)
        try:
            self._install(directory, candidate, active, signature_text)
        except OSError as exc:
            raise Refused(
                spec.id,
                f"cannot write the new version to {directory}: {exc.strerror or exc} "
                "(is the disk full?); nothing was left behind",
            ) from None
        self.update_status(
            spec.id,
            serial=serial,
            tier=header.tier,
            key_id=verified.key_id_hex if verified is not None else None,
            issued=header.issued,
            expires=header.expires,
            entries=header.count,
            skipped=header.skipped,
            sha256=digest,
            source_sha256=source_sha256,
            activated=int(now),
            last_check=int(now),
        )
        self.bump_generation()
        log.info("list %s: serial %d is now active (%d entries)", spec.id, serial, header.count)
        return Activation(spec.id, serial, True, f"serial {serial} activated")


def _write_replacing(tmp: Path, final: Path, data: bytes) -> None:
    """Write `data` to `tmp` and rename it over `final`; on failure (a full disk) remove
    the partial `tmp`, so that nothing is left filling the disk, and raise the OSError."""
    try:
        tmp.write_bytes(data)
        os.replace(tmp, final)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def open_active(store: ListStore, specs: Sequence[ListSpec]) -> dict[str, CompiledList]:
    """Open the active version of every configured list that has one (for serving)."""
    opened: dict[str, CompiledList] = {}
    for spec in specs:
        path = store.active_path(spec.id)
        if not path.exists():
            continue
        try:
            opened[spec.id] = CompiledList.open(path)
        except ListError as exc:
            log.error("list %s: the active file cannot be opened: %s", spec.id, exc)
    return opened
