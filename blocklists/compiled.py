"""Compiling a list: stream (name, flags) rules in, write a compiled list file atomically.

The reader and the file layout live in `blocklists.trie`; this module is the writer. It
runs in its own process (`straja lists compile`), never inside a serving one: it holds every
node of the trie in a dict while it builds the table.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import tempfile
import time
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from blocklists.errors import InvalidNameError, ListCompileError, SourceFormatError
from blocklists.formats import ParseReport, Rule, open_source, parse_lines
from blocklists.names import normalise_name
from blocklists.patterns import TextRule
from blocklists.trie import (
    BUCKET_LOAD,
    EXACT_ACTION_MASK,
    EXACT_ALLOW,
    EXACT_BLOCK,
    FINGERPRINT_SIZE,
    FORMAT_VERSION,
    KEY_SIZE,
    KINDS,
    MAGIC,
    PREAMBLE,
    RECORD_SIZE,
    SUBTREE_ACTION_MASK,
    SUBTREE_ALLOW,
    SUBTREE_BLOCK,
    TIERS,
    CompiledList,
    Layout,
    ListHeader,
    key_hasher,
    label_prefix,
    name_to_labels,
)

SALT_SIZE = 16
_LIST_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_FLAG_BYTES = tuple(bytes((flags,)) for flags in range(256))
_LENGTH_PREFIXES = tuple(label_prefix(b"x" * length) for length in range(64))
_TOP_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class ListMetadata:
    """What the publisher says about a list version; goes into the compiled header.

    Canaries are test names the list must block (they are added as blocked names and
    checked after writing). They are stored in clear in the header, hashed files included:
    use dedicated test names, never names taken from a confidential list."""

    list_id: str
    serial: int
    tier: str
    category: str | None = None
    issued: int | None = None  # Unix time; None: now
    expires: int | None = None  # Unix time; None: never
    canaries: tuple[str, ...] = ()
    hashed: bool = False
    kind: str = "block"  # "allow": every rule of the source is an exception

    def checked(self) -> ListMetadata:
        """A copy with `issued` filled in and canaries normalised; raise `ListCompileError`
        with a sentence naming the bad field."""
        if not _LIST_ID.fullmatch(self.list_id):
            raise ListCompileError(
                f"The list id {self.list_id!r} is not valid: use 1 to 64 lowercase letters, "
                "digits, '.', '_' or '-', starting with a letter or digit."
            )
        if isinstance(self.serial, bool) or not 0 <= self.serial < 1 << 63:
            raise ListCompileError(f"The serial {self.serial!r} must be a whole number ≥ 0.")
        if self.tier not in TIERS:
            raise ListCompileError(f"The tier {self.tier!r} is not one of {', '.join(TIERS)}.")
        if self.kind not in KINDS:
            raise ListCompileError(f"The kind {self.kind!r} is not one of {', '.join(KINDS)}.")
        if self.kind == "allow" and self.tier == "mandatory":
            raise ListCompileError(
                "An allowlist (kind allow) cannot be in the mandatory tier: nothing may "
                "unblock a mandatory list. Use tier operator or family."
            )
        if self.category is not None and not 0 < len(self.category) <= 64:
            raise ListCompileError("The category must be 1 to 64 characters long.")
        issued = int(time.time()) if self.issued is None else self.issued
        if self.expires is not None and self.expires <= issued:
            raise ListCompileError("The expiry time must be later than the issue time.")
        canaries = []
        for canary in self.canaries:
            try:
                canaries.append(normalise_name(canary))
            except InvalidNameError as exc:
                raise ListCompileError(
                    f"The canary {canary!r} is not a valid name: {exc}"
                ) from None
        return ListMetadata(
            self.list_id,
            self.serial,
            self.tier,
            self.category,
            issued,
            self.expires,
            tuple(dict.fromkeys(canaries)),
            self.hashed,
            self.kind,
        )


@dataclass(frozen=True)
class CompileResult:
    """What compiling produced."""

    path: Path
    header: ListHeader
    nodes: int  # trie nodes, listed names and their parents
    size: int  # file bytes
    seconds: float
    report: ParseReport | None = field(default=None, compare=False)

    @property
    def bytes_per_entry(self) -> float:
        """File bytes per listed name (0 for an empty list)."""
        return self.size / self.header.count if self.header.count else 0.0


def compile_source(
    source: str | os.PathLike[str] | IO[str],
    fmt: str,
    output: str | os.PathLike[str],
    metadata: ListMetadata,
    *,
    origins: str | os.PathLike[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> CompileResult:
    """Parse the list source `source` (a path, or an open text stream such as stdin) in
    format `fmt` and write the compiled list to `output`; the parse report (bad lines with
    their numbers) is in the result. `origins`, when given, is the side file that keeps
    each entry's source line and rule text (for `straja check`), written beside the list,
    never inside it; `progress` is called with the number of lines read now and then."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        with open_source(source) as handle:
            return _compile_stream(handle, name, fmt, output, metadata, origins, progress)
    return _compile_stream(source, getattr(source, "name", "<stream>"), fmt, output, metadata,
                           origins, progress)


def _compile_stream(
    handle: IO[str],
    name: str,
    fmt: str,
    output: str | os.PathLike[str],
    metadata: ListMetadata,
    origins: str | os.PathLike[str] | None,
    progress: Callable[[int], None] | None,
) -> CompileResult:
    report = ParseReport(source=name, format=fmt)
    lines = _source_lines(handle, name)
    if progress is not None:
        lines = _counted(lines, progress)
    if origins is None or metadata.hashed:
        rules = parse_lines(lines, fmt, report)
        return compile_rules(rules, output, metadata, source_format=fmt, report=report)
    side = Path(origins)
    temp = side.with_name(f".{side.name}.tmp")
    try:
        with open(temp, "w", encoding="utf-8") as report.origins:
            rules = parse_lines(lines, fmt, report)
            result = compile_rules(rules, output, metadata, source_format=fmt, report=report)
        os.replace(temp, side)
    finally:
        report.origins = None
        if temp.exists():
            temp.unlink()
    return result


def _counted(lines: Iterable[str], progress: Callable[[int], None]) -> Iterator[str]:
    """The lines, calling `progress` with the count every 65,536 lines."""
    count = 0
    for line in lines:
        count += 1
        if not count & 0xFFFF:
            progress(count)
        yield line
    progress(count)


def _source_lines(handle: IO[str], name: str) -> Iterator[str]:
    """The lines of a source, with a read error turned into a sentence naming the source
    (so that it is not mistaken for an error writing the output)."""
    try:
        yield from handle
    except OSError as exc:
        raise SourceFormatError(
            f"The list source {name} could not be read to the end: {exc.strerror or exc}."
        ) from None


def compile_rules(
    rules: Iterable[Rule],
    output: str | os.PathLike[str],
    metadata: ListMetadata,
    *,
    source_format: str = "rules",
    report: ParseReport | None = None,
) -> CompileResult:
    """Write the compiled list of `rules` ((normalised name, flags) pairs) to `output`,
    atomically: the file appears complete under its name or not at all. Canaries are added
    as blocked names and checked to be blocked by the written file."""
    started = time.perf_counter()
    metadata = metadata.checked()
    output = Path(output)
    directory = output.parent if str(output.parent) else Path(".")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _write_error(output, exc) from None
    try:
        with os.fdopen(fd, "wb") as out:
            header, nodes = _write(rules, out, metadata, source_format, report, directory)
            out.flush()
            os.fchmod(out.fileno(), 0o644)
            os.fsync(out.fileno())
        _check_canaries(Path(temp_name), metadata.canaries)
        os.replace(temp_name, output)
    except BaseException as exc:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _write_error(output, exc) from None
        raise
    _fsync_directory(directory)
    return CompileResult(
        output, header, nodes, output.stat().st_size, time.perf_counter() - started, report
    )


def _write(
    rules: Iterable[Rule],
    out: IO[bytes],
    metadata: ListMetadata,
    source_format: str,
    report: ParseReport | None,
    spool_directory: Path,
) -> tuple[ListHeader, int]:
    """Build the node table from `rules` and write the whole file to `out`."""
    salt = os.urandom(SALT_SIZE)
    rules = _checked_rules(rules, metadata)
    with _NameSpool(spool_directory, enabled=not metadata.hashed) as spool:
        nodes, count = _collect_nodes(rules, metadata.canaries, key_hasher(salt), spool)
        text_rules = _checked_text_rules(report.text_rules if report else [], metadata)
        rules_section = _rules_section(text_rules)
        node_count = len(nodes)
        names = spool.names_section(nodes)
        buckets = max(1, -(-node_count // BUCKET_LOAD))
        directory, records = _build_table(_sorted_items(nodes), buckets)
        header = ListHeader(
            list_id=metadata.list_id,
            serial=metadata.serial,
            tier=metadata.tier,
            category=metadata.category,
            issued=metadata.issued or 0,
            expires=metadata.expires,
            count=count,
            canaries=metadata.canaries,
            hashed=metadata.hashed,
            salt=salt,
            skipped=report.skipped if report else 0,
            unsupported=report.unsupported if report else 0,
            source_format=source_format,
            format_version=FORMAT_VERSION,
            kind=metadata.kind,
            exceptions=_exceptions(report, metadata),
            patterns=sum(1 for rule in text_rules if rule.is_pattern),
            not_dns=report.not_dns if report else 0,
            rpz_expressible=not any(rule.is_pattern or rule.dnstype or rule.client
                                    for rule in text_rules),
        )
        _write_file(out, header, buckets, node_count, directory, records, names, rules_section)
    return header, node_count


def _sorted_items(nodes: dict[bytes, int]) -> list[bytes]:
    """Each node's key followed by its flag byte, sorted; empties `nodes`.

    Sorting these is far faster than a dict lookup per sorted key, and popping frees each
    key as its item is made, so the dict and the list are never both whole in memory."""
    items: list[bytes] = []
    append = items.append
    pop = nodes.popitem
    flag_bytes = _FLAG_BYTES
    for _ in range(len(nodes)):
        key, flags = pop()
        append(key + flag_bytes[flags])
    nodes.clear()  # popping leaves the dict's table allocated; clearing frees it
    items.sort()
    return items


def _write_file(
    out: IO[bytes],
    header: ListHeader,
    buckets: int,
    nodes: int,
    directory: bytes,
    records: bytes,
    names: IO[bytes],
    rules: bytes = b"",
) -> None:
    """Write preamble, header, directory, records, names and rules sections, in order."""
    names_length = names.seek(0, io.SEEK_END)
    crc = zlib.crc32(records, zlib.crc32(directory))
    names.seek(0)
    while chunk := names.read(1 << 20):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(rules, crc)
    document = header.to_json()
    # Sizes only: the offsets follow from the header length, so no fixed point is needed.
    sizes = (buckets, nodes, names_length, crc)
    document["layout"] = Layout.after_header(0, *sizes, len(rules)).to_json()
    text = json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")
    layout = Layout.after_header(PREAMBLE.size + len(text), *sizes, len(rules))
    out.write(PREAMBLE.pack(MAGIC, len(text)))
    out.write(text)
    out.write(bytes(layout.directory - PREAMBLE.size - len(text)))
    out.write(directory)
    out.write(records)
    names.seek(0)
    while chunk := names.read(1 << 20):
        out.write(chunk)
    out.write(rules)


_ALLOW_BITS = EXACT_ALLOW | SUBTREE_ALLOW


def _checked_rules(rules: Iterable[Rule], metadata: ListMetadata) -> Iterator[Rule]:
    """The trie rules as the list's kind and tier take them: an allowlist turns every block
    into an exception; a mandatory list refuses exceptions (nothing may weaken it)."""
    if metadata.kind == "allow":
        for name, flags in rules:
            yield name, (flags & EXACT_BLOCK) << 2 | (flags & SUBTREE_BLOCK) << 2 | (
                flags & _ALLOW_BITS
            )
        return
    if metadata.tier != "mandatory":
        yield from rules
        return
    for name, flags in rules:
        if flags & _ALLOW_BITS:
            raise ListCompileError(
                f"The mandatory tier takes plain block rules only, and the source has an "
                f"exception for {name}; remove it (no exception may weaken a mandatory list)."
            )
        yield name, flags


def _checked_text_rules(rules: list[TextRule], metadata: ListMetadata) -> list[TextRule]:
    """The text rules the list may carry: none in a mandatory or hashed list; in an
    allowlist every rule is an exception."""
    if rules and metadata.tier == "mandatory":
        first = rules[0]
        raise ListCompileError(
            f"The mandatory tier takes plain block rules only; line {first.line} of the "
            f"source is a pattern or modifier rule ({first.text!r}), and {len(rules)} such "
            "rules in all. Hotline lists stay exact entries: list the names themselves."
        )
    if rules and metadata.hashed:
        raise ListCompileError(
            f"A hashed list cannot hold pattern or modifier rules, whose text would be "
            f"readable in the file (line {rules[0].line}: {rules[0].text!r})."
        )
    if metadata.kind == "allow":
        return [
            rule if rule.exception or rule.badfilter else replace(rule, exception=True)
            for rule in rules
        ]
    return rules


def _rules_section(rules: list[TextRule]) -> bytes:
    if not rules:
        return b""
    return json.dumps([rule.to_json() for rule in rules], separators=(",", ":")).encode("utf-8")


def _exceptions(report: ParseReport | None, metadata: ListMetadata) -> int:
    if report is None:
        return 0
    if metadata.kind == "allow":
        return report.rules + len(report.text_rules)
    return report.exceptions


def _collect_nodes(
    rules: Iterable[Rule], canaries: tuple[str, ...], proto: Any, spool: _NameSpool
) -> tuple[dict[bytes, int], int]:
    """Every trie node's key with its merged flags (0 for a pure parent), and the number of
    listed names. For a name listed twice, the rules add up; a new block action on the
    same scope replaces the old one (the last one read wins)."""
    nodes: dict[bytes, int] = {}
    setdefault = nodes.setdefault
    prefixes = _LENGTH_PREFIXES
    copy = proto.copy
    # Hash state and key after each TLD: most names share a few TLDs, so this saves one
    # hash step per name. Bounded, should a source carry endless made-up TLDs.
    tops: dict[bytes, tuple[Any, bytes]] = {}
    count = 0
    canary_rules = ((name, -1) for name in canaries)
    for source in (rules, canary_rules):
        for name, flags in source:
            if not flags & 0x0F:
                continue  # no block and no exception: nothing to store
            labels = name.encode("ascii").split(b".")
            tld = labels.pop()
            top = tops.get(tld)
            if top is None:
                hasher = copy()
                hasher.update(prefixes[len(tld)])
                hasher.update(tld)
                top = (hasher, hasher.digest())
                if len(tops) < _TOP_CACHE_SIZE:
                    tops[tld] = top
            key = top[1]
            if labels:
                hasher = top[0].copy()
                update = hasher.update
                digest = hasher.digest
                for label in reversed(labels):
                    setdefault(key, 0)
                    update(prefixes[len(label)])
                    update(label)
                    key = digest()
            old = nodes.get(key, 0)
            if flags < 0:  # a canary: make sure the name itself is blocked
                flags = 0 if old & EXACT_BLOCK else EXACT_BLOCK
            if not old:
                count += 1
                spool.add(name, key)
            if flags & EXACT_BLOCK:
                old &= ~EXACT_ACTION_MASK
            if flags & SUBTREE_BLOCK:
                old &= ~SUBTREE_ACTION_MASK
            nodes[key] = old | flags
    return nodes, count


def _build_table(items: list[bytes], buckets: int) -> tuple[bytes, bytes]:
    """The bucket directory and the records of `items` (node key + flag byte, sorted)."""
    # Directory entry b: the index of the first key whose bucket is b or more, that is the
    # first key >= ceil(b * 2^80 / buckets); keys are sorted, so bisect finds it.
    span = 1 << (8 * KEY_SIZE)
    bounds = array("I", [0])
    bounds.extend(
        bisect_left(items, (-(-(bucket * span) // buckets)).to_bytes(KEY_SIZE, "big"))
        for bucket in range(1, buckets)
    )
    bounds.append(len(items))
    if bounds.itemsize != 4:
        raise ListCompileError("This platform has no 32-bit unsigned array type.")
    if sys.byteorder != "little":
        bounds.byteswap()
    directory = bounds.tobytes() + bytes(-len(bounds) * 4 % 8)
    if sys.byteorder != "little":
        bounds.byteswap()

    parts = bytearray()
    chunk = 1 << 16
    for start in range(0, len(items), chunk):
        parts += b"".join([item[3:] for item in items[start : start + chunk]])
    records = bytes(parts)
    del parts
    _check_fingerprints(records, bounds)
    return directory, records


def _check_fingerprints(records: bytes, bounds: array[int]) -> None:
    """Refuse two nodes with the same bucket and fingerprint: a lookup could not tell them
    apart. About one chance in 10^10 per list; a new salt makes different keys."""
    size = FINGERPRINT_SIZE
    for bucket in range(len(bounds) - 1):
        first, end = bounds[bucket] * RECORD_SIZE, bounds[bucket + 1] * RECORD_SIZE
        if (
            end - first > RECORD_SIZE
            and len({records[offset : offset + size] for offset in range(first, end, RECORD_SIZE)})
            != (end - first) // RECORD_SIZE
        ):
            raise ListCompileError(
                "Two names of the list hash to the same key (a very rare accident); "
                "compile the list again, which draws a new salt."
            )


class _NameSpool:
    """The listed names of a public list, spooled to disk in order of first appearance, with
    their keys kept in memory (10 bytes each), to write the names section at the end."""

    def __init__(self, directory: Path, *, enabled: bool) -> None:
        self.enabled = enabled
        self._directory = directory
        self._keys = bytearray()
        self._file: IO[str] | None = None
        self._names: IO[bytes] | None = None

    def __enter__(self) -> _NameSpool:
        if self.enabled:
            self._file = tempfile.TemporaryFile("w+", encoding="ascii", dir=self._directory)
        self._names = tempfile.TemporaryFile("w+b", dir=self._directory)
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in (self._file, self._names):
            if handle is not None:
                handle.close()

    def add(self, name: str, key: bytes) -> None:
        if self._file is not None:
            self._file.write(name)
            self._file.write("\n")
            self._keys += key

    def names_section(self, nodes: dict[bytes, int]) -> IO[bytes]:
        """Write "name<TAB>flags" lines, with the final merged flags, to a temporary file."""
        assert self._names is not None
        if self._file is None:
            return self._names
        self._file.seek(0)
        keys = self._keys
        out = self._names
        lines: list[str] = []
        for index, line in enumerate(self._file):
            key = bytes(keys[index * KEY_SIZE : (index + 1) * KEY_SIZE])
            lines.append(f"{line[:-1]}\t{nodes[key]}\n")
            if len(lines) >= 4096:
                out.write("".join(lines).encode("ascii"))
                lines.clear()
        out.write("".join(lines).encode("ascii"))
        return out


def _check_canaries(path: Path, canaries: tuple[str, ...]) -> None:
    """Open the file just written and check that every canary is blocked by it."""
    with CompiledList.open(path) as compiled:
        for canary in canaries:
            if compiled.lookup(name_to_labels(canary)) is None:
                raise ListCompileError(
                    f"The canary {canary} is not blocked by the compiled list: an exception "
                    "in the source covers it. Remove the exception or choose another canary."
                )


def _write_error(output: Path, exc: OSError) -> ListCompileError:
    return ListCompileError(f"Cannot write the compiled list {output}: {exc.strerror or exc}.")


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (not possible everywhere; best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
