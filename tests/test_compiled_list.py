"""The compiled list file: semantics of every format after compiling, most-specific-wins,
header fields, hashed files without names, refusal of damaged files, closing, and the
reader's standard-library-only promise."""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blocklists.compiled import CompileResult, ListMetadata, compile_rules, compile_source
from blocklists.errors import (
    CorruptListError,
    HashedListError,
    ListClosedError,
    ListCompileError,
    UnsupportedListVersionError,
)
from blocklists.formats import ALLOW_WITH_SUBDOMAINS, BLOCK_WITH_SUBDOMAINS
from blocklists.trie import (
    ACTION_DEFAULT,
    ACTION_NODATA,
    ACTION_NXDOMAIN,
    EXACT_ACTION_MASK,
    EXACT_ACTION_SHIFT,
    EXACT_ALLOW,
    EXACT_BLOCK,
    PREAMBLE,
    SUBTREE_ACTION_MASK,
    SUBTREE_ACTION_SHIFT,
    SUBTREE_ALLOW,
    SUBTREE_BLOCK,
    CompiledList,
    ListEntry,
    Match,
    name_to_labels,
)

REPO = Path(__file__).resolve().parent.parent


def compile_text(tmp_path: Path, fmt: str, text: str, **overrides: Any) -> CompileResult:
    """Compile `text` in format `fmt` to tmp_path/list.sl; `overrides` set ListMetadata."""
    source = tmp_path / f"source.{fmt}"
    source.write_text(text, encoding="utf-8")
    fields: dict[str, Any] = {"list_id": "test-list", "serial": 7, "tier": "operator"}
    metadata = ListMetadata(**(fields | overrides))
    return compile_source(source, fmt, tmp_path / "list.sl", metadata)


def verdict(lst: CompiledList, name: str) -> Match | None:
    return lst.lookup(name_to_labels(name))


@pytest.fixture(params=[False, True], ids=["public", "hashed"])
def hashed(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# --- format semantics, end to end --------------------------------------------------------


def test_domains_entry_blocks_the_name_and_every_subdomain(tmp_path: Path, hashed: bool) -> None:
    result = compile_text(tmp_path, "domains", "tracker.example\n", hashed=hashed)
    with CompiledList.open(result.path) as lst:
        assert verdict(lst, "tracker.example") == Match(ACTION_DEFAULT, 2, True)
        assert verdict(lst, "a.b.tracker.example") == Match(ACTION_DEFAULT, 2, False)
        assert verdict(lst, "example") is None
        assert verdict(lst, "othertracker.example") is None
        assert verdict(lst, "tracker.example.org") is None


def test_hosts_entry_blocks_exactly_the_name(tmp_path: Path, hashed: bool) -> None:
    result = compile_text(tmp_path, "hosts", "0.0.0.0 ads.example.com\n", hashed=hashed)
    with CompiledList.open(result.path) as lst:
        assert verdict(lst, "ads.example.com") == Match(ACTION_DEFAULT, 3, True)
        assert verdict(lst, "www.ads.example.com") is None
        assert verdict(lst, "example.com") is None


def test_wildcard_blocks_subdomains_but_not_the_name(tmp_path: Path, hashed: bool) -> None:
    result = compile_text(tmp_path, "domains", "*.cdn.example\n", hashed=hashed)
    with CompiledList.open(result.path) as lst:
        assert verdict(lst, "cdn.example") is None
        assert verdict(lst, "x.cdn.example") == Match(ACTION_DEFAULT, 2, False)
        assert verdict(lst, "y.x.cdn.example") == Match(ACTION_DEFAULT, 2, False)


def test_adblock_exception_wins_for_its_name_and_subdomains(tmp_path: Path, hashed: bool) -> None:
    text = "||ads.example^\n@@||ok.ads.example^\n"
    result = compile_text(tmp_path, "adblock", text, hashed=hashed)
    with CompiledList.open(result.path) as lst:
        assert verdict(lst, "ads.example") == Match(ACTION_DEFAULT, 2, True)
        assert verdict(lst, "x.ads.example") == Match(ACTION_DEFAULT, 2, False)
        assert verdict(lst, "ok.ads.example") is None
        assert verdict(lst, "deep.ok.ads.example") is None


def test_rpz_actions_survive_compiling(tmp_path: Path, hashed: bool) -> None:
    zone = (
        "$ORIGIN rpz.test.\n@ SOA ns. admin. 1 2 3 4 5\n@ NS ns.\n"
        "nx.example CNAME .\n*.nx.example CNAME .\nnodata.example CNAME *.\n"
        "a.example A 10.0.0.1\nok.nx.example CNAME rpz-passthru.\n"
    )
    result = compile_text(tmp_path, "rpz", zone, hashed=hashed)
    with CompiledList.open(result.path) as lst:
        assert verdict(lst, "nx.example") == Match(ACTION_NXDOMAIN, 2, True)
        assert verdict(lst, "sub.nx.example") == Match(ACTION_NXDOMAIN, 2, False)
        assert verdict(lst, "ok.nx.example") is None
        assert verdict(lst, "nodata.example") == Match(ACTION_NODATA, 2, True)
        assert verdict(lst, "sub.nodata.example") is None
        assert verdict(lst, "a.example") == Match(ACTION_DEFAULT, 2, True)


def test_exact_and_subtree_keep_their_own_actions(tmp_path: Path) -> None:
    result = compile_text(tmp_path, "rpz", "d.example CNAME .\n*.d.example CNAME *.\n")
    with CompiledList.open(result.path) as lst:
        assert verdict(lst, "d.example") == Match(ACTION_NXDOMAIN, 2, True)
        assert verdict(lst, "x.d.example") == Match(ACTION_NODATA, 2, False)


def test_a_name_listed_twice_keeps_the_last_action(tmp_path: Path) -> None:
    result = compile_text(tmp_path, "rpz", "d.example CNAME .\nd.example CNAME *.\n")
    with CompiledList.open(result.path) as lst:
        assert verdict(lst, "d.example") == Match(ACTION_NODATA, 2, True)
        assert lst.header.count == 1


def test_idn_source_names_match_their_a_labels(tmp_path: Path, hashed: bool) -> None:
    result = compile_text(tmp_path, "domains", "Bücher.example\n", hashed=hashed)
    with CompiledList.open(result.path) as lst:
        assert verdict(lst, "xn--bcher-kva.example") == Match(ACTION_DEFAULT, 2, True)


def test_a_tld_rule_applies_to_everything_under_it(tmp_path: Path) -> None:
    result = compile_text(tmp_path, "domains", "*.zip\n")
    with CompiledList.open(result.path) as lst:
        assert verdict(lst, "zip") is None
        assert verdict(lst, "anything.zip") == Match(ACTION_DEFAULT, 1, False)
        assert verdict(lst, "a.b.zip") == Match(ACTION_DEFAULT, 1, False)
        assert verdict(lst, "anything.zap") is None


# --- most specific wins ----------------------------------------------------------------------


def test_exception_of_a_subdomain_beats_the_block_of_its_parent(tmp_path: Path) -> None:
    result = compile_text(tmp_path, "adblock", "||d.example^\n@@||a.d.example^\n")
    with CompiledList.open(result.path) as lst:
        assert verdict(lst, "a.d.example") is None
        assert verdict(lst, "x.a.d.example") is None
        assert verdict(lst, "b.d.example") is not None


def test_block_below_an_exception_beats_the_exception(tmp_path: Path) -> None:
    text = "||d.example^\n@@||a.d.example^\n||x.a.d.example^\n"
    result = compile_text(tmp_path, "adblock", text)
    with CompiledList.open(result.path) as lst:
        assert verdict(lst, "x.a.d.example") == Match(ACTION_DEFAULT, 4, True)
        assert verdict(lst, "y.x.a.d.example") == Match(ACTION_DEFAULT, 4, False)
        assert verdict(lst, "a.d.example") is None


def test_at_the_same_node_an_exception_beats_a_block(tmp_path: Path, hashed: bool) -> None:
    result = compile_text(
        tmp_path, "adblock", "@@||same.example^\n||same.example^\n", hashed=hashed
    )
    with CompiledList.open(result.path) as lst:
        assert verdict(lst, "same.example") is None
        assert verdict(lst, "x.same.example") is None


def test_lookups_agree_with_a_reference_model_on_random_rules(tmp_path: Path) -> None:
    rng = random.Random(5)
    labels = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    tlds = ["com", "net", "example"]
    kinds = [
        BLOCK_WITH_SUBDOMAINS,
        EXACT_BLOCK,
        SUBTREE_BLOCK,
        ALLOW_WITH_SUBDOMAINS,
        EXACT_ALLOW,
        SUBTREE_ALLOW,
        EXACT_BLOCK | ACTION_NXDOMAIN << EXACT_ACTION_SHIFT,
        SUBTREE_BLOCK | ACTION_NODATA << SUBTREE_ACTION_SHIFT,
    ]

    def random_name() -> str:
        depth = rng.randint(1, 4)
        return ".".join([*(rng.choice(labels) for _ in range(depth)), rng.choice(tlds)])

    rules = [(random_name(), rng.choice(kinds)) for _ in range(400)]
    model: dict[str, int] = {}
    for name, flags in rules:
        old = model.get(name, 0)
        if flags & EXACT_BLOCK:
            old &= ~EXACT_ACTION_MASK
        if flags & SUBTREE_BLOCK:
            old &= ~SUBTREE_ACTION_MASK
        model[name] = old | flags

    def expected(name: str) -> Match | None:
        parts = name.split(".")
        best = None
        for depth in range(1, len(parts) + 1):
            flags = model.get(".".join(parts[-depth:]), 0)
            if depth < len(parts):
                if flags & SUBTREE_ALLOW:
                    best = None
                elif flags & SUBTREE_BLOCK:
                    best = Match(flags >> SUBTREE_ACTION_SHIFT & 3, depth, False)
            elif flags & EXACT_ALLOW:
                best = None
            elif flags & EXACT_BLOCK:
                best = Match(flags >> EXACT_ACTION_SHIFT & 3, depth, True)
        return best

    result = compile_rules(rules, tmp_path / "random.sl", ListMetadata("random", 1, "family"))
    assert result.header.count == len(model)
    with CompiledList.open(result.path) as lst:
        blocked = 0
        for _ in range(5000):
            name = random_name()
            assert verdict(lst, name) == expected(name), name
            blocked += expected(name) is not None
            explained = lst.explain(name_to_labels(name))
            assert (explained.verdict == "block") == (expected(name) is not None)
        assert 500 < blocked < 4500  # the model exercised both outcomes


# --- header, names, explain --------------------------------------------------------------


def test_header_carries_the_metadata(tmp_path: Path) -> None:
    result = compile_text(
        tmp_path,
        "adblock",
        "||one.example^\n||bad..example^\n||x.example^$third-party\n@@||ok.one.example^\n",
        list_id="hotline-1",
        serial=42,
        tier="family",
        category="csam",
        issued=1_700_000_000,
        expires=1_700_086_400,
        canaries=("Canary.Straja.Test.",),
    )
    with CompiledList.open(result.path) as lst:
        header = lst.header
    assert header.list_id == "hotline-1"
    assert header.serial == 42
    assert header.tier == "family"
    assert header.category == "csam"
    assert (header.issued, header.expires) == (1_700_000_000, 1_700_086_400)
    assert header.canaries == ("canary.straja.test",)
    assert header.count == 3  # one.example, ok.one.example, the canary
    assert (header.skipped, header.unsupported, header.not_dns) == (1, 0, 1)
    assert (header.kind, header.exceptions, header.patterns) == ("block", 1, 0)
    assert header.rpz_expressible
    assert header.source_format == "adblock"
    assert header.hashed is False
    assert len(header.salt) == 16
    assert header.is_expired(1_700_086_400) and not header.is_expired(1_700_000_001)
    assert result.report is not None and result.report.bad_lines[0].line == 2


def test_canaries_are_blocked(tmp_path: Path, hashed: bool) -> None:
    result = compile_text(
        tmp_path, "domains", "x.example\n", hashed=hashed, canaries=("canary.straja.test",)
    )
    with CompiledList.open(result.path) as lst:
        assert verdict(lst, "canary.straja.test") == Match(ACTION_DEFAULT, 3, True)


def test_a_canary_under_an_exception_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with pytest.raises(ListCompileError, match="canary ok.example is not blocked"):
        compile_text(tmp_path, "adblock", "@@||ok.example^\n", canaries=("ok.example",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.adblock"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("list_id", "Bad Id", "list id"),
        ("tier", "gold", "tier"),
        ("serial", -1, "serial"),
        ("expires", 10, "expiry"),
        ("canaries", ("bad..name",), "canary"),
    ],
)
def test_bad_metadata_is_refused_with_a_sentence(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    meta: dict[str, Any] = {"issued": 100, field: value}
    with pytest.raises(ListCompileError, match=message):
        compile_text(tmp_path, "domains", "x.example\n", **meta)


def test_public_files_list_their_names(tmp_path: Path) -> None:
    text = "||one.example^\n@@||ok.one.example^\n||one.example^\n"
    result = compile_text(tmp_path, "adblock", text)
    with CompiledList.open(result.path) as lst:
        assert list(lst.names()) == [
            ListEntry("one.example", BLOCK_WITH_SUBDOMAINS),
            ListEntry("ok.one.example", ALLOW_WITH_SUBDOMAINS),
        ]
        assert "blocks the name and its subdomains" in ListEntry("x", 3).describe()


def test_names_section_streams_across_chunks(tmp_path: Path) -> None:
    names = [f"host{i:06d}.example" for i in range(60_000)]  # > 1 MiB of names
    result = compile_rules(
        ((n, EXACT_BLOCK) for n in names), tmp_path / "big.sl", ListMetadata("big", 1, "family")
    )
    with CompiledList.open(result.path) as lst:
        assert [entry.name for entry in lst.names()] == names


def test_hashed_files_refuse_to_list_names(tmp_path: Path) -> None:
    result = compile_text(tmp_path, "domains", "x.example\n", hashed=True)
    with CompiledList.open(result.path) as lst, pytest.raises(HashedListError):
        next(lst.names())


def test_explain_reports_exceptions_and_the_deciding_name(tmp_path: Path) -> None:
    result = compile_text(tmp_path, "adblock", "||d.example^\n@@||a.d.example^\n")
    with CompiledList.open(result.path) as lst:
        allowed = lst.explain(name_to_labels("www.a.d.example"))
        assert (allowed.verdict, allowed.depth, allowed.kind) == ("allow", 3, "subtree")
        assert allowed.matched == "a.d.example"
        assert [hit.depth for hit in allowed.trail] == [1, 2, 3]
        blocked = lst.explain(name_to_labels("d.example"))
        assert (blocked.verdict, blocked.kind, blocked.action) == ("block", "exact", 0)
        assert blocked.matched == "d.example"
        assert lst.explain(name_to_labels("other.example")).verdict == "none"


# --- hashed files carry no names --------------------------------------------------------------


def test_hashed_file_contains_no_listed_name_or_label(tmp_path: Path) -> None:
    rng = random.Random(3)
    names = [
        ".".join(
            "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(6, 12)))
            for _ in range(rng.randint(2, 4))
        )
        for _ in range(2000)
    ]
    text = "".join(f"{name}\n" for name in names) + "verysecretsite.example\n"
    result = compile_text(tmp_path, "domains", text, hashed=True)
    data = result.path.read_bytes()
    labels = {label for name in names for label in name.split(".")}
    assert b"verysecretsite" not in data
    assert b"example" not in data
    assert not [name for name in names if name.encode() in data]
    assert not [label for label in labels if label.encode() in data]
    with CompiledList.open(result.path) as lst:  # and yet it blocks them
        assert all(verdict(lst, name) for name in names[:200])
    public = compile_text(tmp_path, "domains", text, hashed=False)
    assert b"verysecretsite.example" in public.path.read_bytes()


def test_hashed_files_use_a_fresh_salt_each_time(tmp_path: Path) -> None:
    first = compile_text(tmp_path, "domains", "x.example\n", hashed=True).path.read_bytes()
    second = compile_text(tmp_path, "domains", "x.example\n", hashed=True).path.read_bytes()
    assert first[PREAMBLE.size :] != second[PREAMBLE.size :]


def test_hashed_file_stays_within_sixteen_bytes_per_entry(tmp_path: Path) -> None:
    rng = random.Random(9)
    names = {f"{rng.getrandbits(40):x}.{rng.choice(['com', 'net', 'org'])}" for _ in range(50_000)}
    result = compile_rules(
        ((n, BLOCK_WITH_SUBDOMAINS) for n in names),
        tmp_path / "h.sl",
        ListMetadata("h", 1, "mandatory", hashed=True),
    )
    assert result.bytes_per_entry <= 16


# --- damaged files are refused ----------------------------------------------------------------


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    text = "".join(f"site{i}.example\n" for i in range(500))
    return compile_text(tmp_path, "domains", text).path


def test_truncated_files_are_refused(good_file: Path, tmp_path: Path) -> None:
    data = good_file.read_bytes()
    for length in (0, 5, PREAMBLE.size, 40, len(data) // 2, len(data) - 1):
        damaged = tmp_path / f"cut{length}.sl"
        damaged.write_bytes(data[:length])
        with pytest.raises(CorruptListError, match=str(damaged)):
            CompiledList.open(damaged)


def test_extra_bytes_after_the_body_are_refused(good_file: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "long.sl"
    damaged.write_bytes(good_file.read_bytes() + b"\0" * 8)
    with pytest.raises(CorruptListError, match="truncated or corrupt"):
        CompiledList.open(damaged)


def test_wrong_magic_is_refused(good_file: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "magic.sl"
    damaged.write_bytes(b"NOTALIST" + good_file.read_bytes()[8:])
    with pytest.raises(CorruptListError, match="not a Straja compiled list"):
        CompiledList.open(damaged)


def test_a_future_format_version_is_refused(good_file: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "future.sl"
    damaged.write_bytes(b"STRAJAL9" + good_file.read_bytes()[8:])
    with pytest.raises(UnsupportedListVersionError, match="format '9'"):
        CompiledList.open(damaged)


def test_a_corrupt_header_is_refused(good_file: Path, tmp_path: Path) -> None:
    data = bytearray(good_file.read_bytes())
    data[PREAMBLE.size] = ord("[")
    damaged = tmp_path / "header.sl"
    damaged.write_bytes(bytes(data))
    with pytest.raises(CorruptListError, match="corrupt header"):
        CompiledList.open(damaged)


def test_a_header_with_wrong_sizes_is_refused(good_file: Path, tmp_path: Path) -> None:
    data = good_file.read_bytes()
    _, length = PREAMBLE.unpack_from(data)
    header = json.loads(data[PREAMBLE.size : PREAMBLE.size + length])
    header["layout"]["nodes"] += 1
    text = json.dumps(header, separators=(",", ":")).encode()
    assert len(text) == length
    damaged = tmp_path / "sizes.sl"
    damaged.write_bytes(data[: PREAMBLE.size] + text + data[PREAMBLE.size + length :])
    with pytest.raises(CorruptListError, match="truncated or corrupt"):
        CompiledList.open(damaged)


def test_a_flipped_body_byte_is_found_by_the_integrity_check(
    good_file: Path, tmp_path: Path
) -> None:
    data = bytearray(good_file.read_bytes())
    data[-100] ^= 0x40
    damaged = tmp_path / "flipped.sl"
    damaged.write_bytes(bytes(data))
    with CompiledList.open(good_file) as lst:
        lst.verify_integrity()
    with CompiledList.open(damaged) as lst, pytest.raises(CorruptListError, match="checksum"):
        lst.verify_integrity()


def test_missing_file_is_a_list_error(tmp_path: Path) -> None:
    with pytest.raises(CorruptListError, match="cannot be opened"):
        CompiledList.open(tmp_path / "absent.sl")


# --- lifecycle ----------------------------------------------------------------------------


def test_closing_while_another_reference_exists_does_not_crash(good_file: Path) -> None:
    lst = CompiledList.open(good_file)
    other = lst
    assert other.lookup(name_to_labels("site1.example")) is not None
    lst.close()
    lst.close()
    assert lst.closed
    with pytest.raises(ListClosedError, match="after it was closed"):
        other.lookup(name_to_labels("site1.example"))
    with pytest.raises(ListClosedError):
        other.lookup(name_to_labels("unknown.tld"))
    with pytest.raises(ListClosedError):
        other.explain(name_to_labels("site1.example"))
    with pytest.raises(ListClosedError):
        other.verify_integrity()


def test_odd_labels_neither_crash_nor_collide(tmp_path: Path) -> None:
    result = compile_text(tmp_path, "domains", "y.x.example\n")
    with CompiledList.open(result.path) as lst:
        assert lst.lookup([]) is None
        assert lst.lookup([b"example", b"x.y"]) is None  # one label with a dot in it
        assert lst.lookup([b"example", b"x", b"y"]) is not None
        assert lst.lookup([b"example", b"", b"x"]) is None
        assert lst.lookup([b"\xff" * 63] * 4) is None
        with pytest.raises(CorruptListError, match="longer than 255 bytes"):
            lst.lookup([b"example", b"x" * 300])


def test_failed_compile_leaves_no_temporary_file(tmp_path: Path) -> None:
    def rules() -> Iterator[tuple[str, int]]:
        yield ("one.example", EXACT_BLOCK)
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError):
        compile_rules(rules(), tmp_path / "out.sl", ListMetadata("x", 1, "family"))
    assert list(tmp_path.iterdir()) == []


def test_compiling_replaces_the_previous_file_atomically(tmp_path: Path) -> None:
    output = tmp_path / "list.sl"
    compile_rules([("a.example", EXACT_BLOCK)], output, ListMetadata("x", 1, "family"))
    with CompiledList.open(output) as old:
        compile_rules([("b.example", EXACT_BLOCK)], output, ListMetadata("x", 2, "family"))
        assert old.lookup(name_to_labels("a.example")) is not None  # old mapping still valid
    with CompiledList.open(output) as new:
        assert new.header.serial == 2
        assert new.lookup(name_to_labels("a.example")) is None
    assert oct(os.stat(output).st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["list.sl"]


def test_empty_list_compiles_and_blocks_nothing(tmp_path: Path) -> None:
    result = compile_text(tmp_path, "domains", "# nothing here\n")
    with CompiledList.open(result.path) as lst:
        assert lst.header.count == 0
        assert verdict(lst, "example.com") is None


def test_the_directory_is_little_endian_on_every_host(good_file: Path) -> None:
    with CompiledList.open(good_file) as lst:
        layout = lst.layout
        data = good_file.read_bytes()
        (last,) = struct.unpack_from("<I", data, layout.directory + 4 * layout.buckets)
        assert last == layout.nodes


# --- the reader needs the standard library only -----------------------------------------------


def test_reader_runs_with_the_standard_library_alone(good_file: Path) -> None:
    script = f"""
import sys
sys.path[:] = [p for p in sys.path if "site-packages" not in p and "dist-packages" not in p]
sys.path.insert(0, {str(REPO)!r})
import blocklists.trie as trie
lst = trie.CompiledList.open({str(good_file)!r})
assert lst.lookup([b"example", b"site7"]) is not None
assert lst.lookup([b"example", b"nosuchsite"]) is None
lst.close()
for banned in ("idna", "cryptography", "dnslib", "yaml", "click"):
    assert banned not in sys.modules, banned
print("ok")
"""
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


def test_two_nodes_with_the_same_bucket_and_fingerprint_are_refused() -> None:
    from blocklists.compiled import _build_table

    fingerprint = b"\x11" * 7
    items = [b"\x00\x00\x00" + fingerprint + b"\x01", b"\x00\x00\x07" + fingerprint + b"\x02"]
    with pytest.raises(ListCompileError, match="compile the list again"):
        _build_table(items, 1)
    directory, records = _build_table([items[0], b"\x00\x00\x07" + b"\x22" * 7 + b"\x02"], 1)
    assert records == fingerprint + b"\x01" + b"\x22" * 7 + b"\x02"
    assert directory == struct.pack("<II", 0, 2)
