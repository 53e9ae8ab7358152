"""The side-by-side report: a table per workload, start-up and memory, the issue's targets
as ratios measured in the same run, and one SUMMARY line that stays comparable across runs."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.results import Results, Row, Sample, paired_ratio, per_core, qps

# The targets, for one core, on these workloads.
ONE_CORE_WORKLOADS = ("blocked", "cached", "mixed")
QPS_TARGETS = (("dnsmasq", 0.85), ("unbound", 0.80), ("echo", 0.80))
RSS_TARGET = ("unbound", 0.20)  # Straja's peak RSS at most this share of Unbound's
START_TARGET = ("unbound", 0.10)  # Straja's start to first answer at most this share
# Several workers against single-threaded dnsmasq, and each added worker's efficiency.
SCALING_TARGETS = {2: 1.5, 8: 5.0}
EFFICIENCY_TARGET = 0.80
EFFICIENCY_UP_TO = 8

_WORKERS_KEY = re.compile(r"^straja-x(\d+)$")


def straja_workers(key: str) -> int | None:
    """The worker count of a Straja row's key (`straja` is 1, `straja-x4` is 4)."""
    if key == "straja":
        return 1
    m = _WORKERS_KEY.match(key)
    return int(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class Verdict:
    """A ratio measured in this run against one of the issue's targets (or none)."""

    label: str
    ratio: float | None
    bound: float | None = None  # None: reported, no target
    at_least: bool = True

    @property
    def met(self) -> bool | None:
        if self.bound is None or self.ratio is None:
            return None
        return self.ratio >= self.bound if self.at_least else self.ratio <= self.bound

    def line(self) -> str:
        ratio = "-" if self.ratio is None else f"{self.ratio:.3f}"
        if self.bound is None:
            return f"  {self.label:<52} {ratio:>7}"
        sign = ">=" if self.at_least else "<="
        text = f"  {self.label:<52} {ratio:>7}   target {sign} {self.bound:.2f}   "
        if self.met is None:
            return text + "not measured"
        if self.met:
            return text + "PASS"
        assert self.ratio is not None
        gap = 1 - self.ratio / self.bound if self.at_least else self.ratio / self.bound - 1
        return text + f"SHORT by {gap:.1%}"


# -- tables ------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.3f}"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f}"


def markdown(head: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return [line(head), rule, *(line(r) for r in body)]


def workload_table(rows: Sequence[Row]) -> list[str]:
    head = [
        "server", "q/s", "q/s min-max", "CPU us/q", "user us/q", "q/s per core", "server CPU",
        "load CPU", "other busy srv/load", "p50 ms", "p99 ms", "lost", "upstream q",
        "peak RSS MiB", "RSS after MiB (anon)",
    ]  # fmt: skip
    body = []
    for row in rows:
        rates = [s.qps for s in row.samples]
        lost = sum(s.lost + s.latency_lost for s in row.samples)
        sent = sum(s.sent for s in row.samples)
        cpu_us = row.median(lambda s: s.cpu_us_per_query)
        body.append([
            row.name,
            _fmt(row.median(qps), ".0f"),
            f"{min(rates):.0f}-{max(rates):.0f}" if rates else "-",
            _fmt(cpu_us, ".2f"),
            _fmt(row.median(lambda s: s.user_us_per_query), ".2f"),
            _fmt(1e6 / cpu_us if cpu_us else None, ".0f"),
            _fmt(row.median(lambda s: s.server_cpu_seconds / s.run_seconds * 100), ".0f") + "%",
            _fmt(row.median(lambda s: s.load_cpu_seconds / s.run_seconds * 100), ".0f") + "%",
            _fmt(row.median(lambda s: s.other_busy_seconds / s.run_seconds * 100), ".0f")
            + "%/"
            + _fmt(row.median(lambda s: s.load_other_busy_seconds / s.run_seconds * 100), ".0f")
            + "%",
            _ms(row.median(lambda s: s.latency_p50)),
            _ms(row.median(lambda s: s.latency_p99)),
            f"{lost}" + (f" ({lost / sent:.2%})" if lost and sent else ""),
            str(sum(s.upstream_queries for s in row.samples)),
            _mib(row.memory.get("peak")),
            f"{_mib(row.memory.get('rss'))} ({_mib(row.memory.get('anon'))})",
        ])  # fmt: skip
    return markdown(head, body)


def startup_table(results: Results) -> list[str]:
    head = ["server", "start->answer ms", "min-max", "starts", "RSS then MiB (anon)"]
    body = []
    for start in results.startups.values():
        times = [t * 1000 for t in start.seconds]
        body.append([
            start.name,
            _fmt(start.median * 1000 if start.median is not None else None, ".0f"),
            f"{min(times):.0f}-{max(times):.0f}" if times else "-",
            str(len(times)),
            f"{_mib(start.memory.get('rss'))} ({_mib(start.memory.get('anon'))})",
        ])  # fmt: skip
    return markdown(head, body)


# -- targets -----------------------------------------------------------------------------


def _per_round(row: Row, get: Callable[[Sample], float]) -> dict[int, float]:
    return {s.round: get(s) for s in row.samples if not math.isnan(get(s))}


def _scaling_ratio(
    rows: Sequence[Row], top: str, base: str, top_workers: int, base_workers: int, one: str
) -> float | None:
    """Median over rounds of the marginal efficiency of going from base to top workers:
    (q/s(top) - q/s(base)) / ((top - base) * q/s(one worker)), all from the same round."""
    by_key = {r.key: r for r in rows}
    if not {top, base, one} <= set(by_key):
        return None
    t, b, o = (_per_round(by_key[k], qps) for k in (top, base, one))
    values = [
        (t[r] - b[r]) / ((top_workers - base_workers) * o[r])
        for r in t
        if r in b and r in o and o[r] > 0
    ]
    return statistics.median(values) if values else None


def verdicts(results: Results) -> list[Verdict]:
    """Every target the run can judge, in the issue's order."""
    found: list[Verdict] = []
    for wname in ONE_CORE_WORKLOADS:
        rows = results.workloads.get(wname)
        if rows is None:
            continue
        keys = {r.key for r in rows}
        if "straja" not in keys:
            continue
        for other, bound in QPS_TARGETS:
            if other in keys:
                ratio = paired_ratio(rows, "straja", other, qps)
                found.append(Verdict(f"{wname}: straja / {other}, q/s", ratio, bound))
        other, bound = RSS_TARGET
        if results.list_names and other in keys:  # the target is for servers carrying the list
            by_key = {r.key: r for r in rows}
            top, bottom = by_key["straja"].memory.get("peak"), by_key[other].memory.get("peak")
            ratio = top / bottom if top and bottom else None
            found.append(Verdict(f"{wname}: straja / {other}, peak RSS", ratio, bound, False))
    other, bound = START_TARGET
    if results.list_names and "straja" in results.startups and other in results.startups:
        ratio = paired_start_ratio(results, "straja", other)
        found.append(Verdict(f"straja / {other}, start to first answer", ratio, bound, False))
    found += scaling_verdicts(results)
    return found


def paired_start_ratio(results: Results, top: str, bottom: str) -> float | None:
    """Median over start rounds of the ratio of start-up times taken in the same round."""
    a, b = results.startups[top].seconds, results.startups[bottom].seconds
    ratios = [x / y for x, y in zip(a, b, strict=False) if y > 0]
    return statistics.median(ratios) if ratios else None


def scaling_verdicts(results: Results) -> list[Verdict]:
    """Several Straja workers against single-threaded dnsmasq, and each added worker."""
    found: list[Verdict] = []
    for wname in ONE_CORE_WORKLOADS:
        rows = results.workloads.get(wname, [])
        counts = sorted(n for r in rows if (n := straja_workers(r.key)) is not None)
        if not any(n > 1 for n in counts):
            continue
        keys = {r.key for r in rows}
        for n in counts:
            if n > 1 and "dnsmasq" in keys:
                ratio = paired_ratio(rows, f"straja-x{n}", "dnsmasq", qps)
                label = f"{wname}: straja x{n} / dnsmasq, q/s"
                found.append(Verdict(label, ratio, SCALING_TARGETS.get(n)))
        if counts and counts[0] == 1:
            for base, top in zip(counts, counts[1:], strict=False):
                key = "straja" if base == 1 else f"straja-x{base}"
                ratio = _scaling_ratio(rows, f"straja-x{top}", key, top, base, "straja")
                bound = EFFICIENCY_TARGET if top <= EFFICIENCY_UP_TO else None
                label = f"{wname}: efficiency of each added worker, x{base} -> x{top}"
                found.append(Verdict(label, ratio, bound))
    return found


def info_ratios(results: Results) -> list[Verdict]:
    """Ratios with no target that help read the others: per-core rates (CPU cost), and the
    cold-unique workload's."""
    found: list[Verdict] = []
    for wname, rows in results.workloads.items():
        keys = [r.key for r in rows]
        if "straja" not in keys:
            continue
        for other in keys:
            if other == "straja" or straja_workers(other) is not None:
                continue
            if wname not in ONE_CORE_WORKLOADS:
                ratio = paired_ratio(rows, "straja", other, qps)
                found.append(Verdict(f"{wname}: straja / {other}, q/s", ratio))
            ratio = paired_ratio(rows, "straja", other, per_core)
            found.append(Verdict(f"{wname}: straja / {other}, q/s per core (CPU)", ratio))
        by_key = {r.key: r for r in rows}
        if "unbound" in by_key:
            top, bottom = by_key["straja"].memory.get("anon"), by_key["unbound"].memory.get("anon")
            ratio = top / bottom if top and bottom else None
            found.append(Verdict(f"{wname}: straja / unbound, anonymous RSS after", ratio))
    return found


# -- the summary line --------------------------------------------------------------------


def summary(results: Results, workers: Sequence[int], rounds: int) -> str:
    """One line of key=value pairs that stays comparable across runs (and greppable)."""
    workers_text = ",".join(map(str, workers))
    parts = [
        "SUMMARY side-by-side",
        f"workers={workers_text}",
        f"rounds={rounds}",
        f"list={results.list_names}",
    ]
    for wname, rows in results.workloads.items():
        for row in rows:
            parts.append(f"{wname}_{row.key}_qps={_fmt(row.median(qps), '.0f')}")
        for row in rows:
            cpu = row.median(lambda s: s.cpu_us_per_query)
            parts.append(f"{wname}_{row.key}_cpu_us={_fmt(cpu, '.2f')}")
        keys = {r.key for r in rows}
        if "straja" in keys and "straja-rl" in keys:
            ratio = paired_ratio(rows, "straja-rl", "straja", qps)
            parts.append(f"{wname}_ratelimit_vs_off={_fmt(ratio, '.3f')}")
        if "straja" in keys:
            for other in ("dnsmasq", "unbound", "echo"):
                if other in keys:
                    ratio = paired_ratio(rows, "straja", other, qps)
                    parts.append(f"{wname}_vs_{other}={_fmt(ratio, '.3f')}")
    if "straja" in results.startups:
        start = results.startups["straja"].median
        parts.append(f"straja_start_ms={_fmt(start * 1000 if start else None, '.0f')}")
    judged = verdicts(results)
    rss = [v.ratio for v in judged if "peak RSS" in v.label and v.ratio is not None]
    if rss:
        parts.append(f"rss_vs_unbound={max(rss):.3f}")
    start_ratio = [v.ratio for v in judged if "start to first" in v.label]
    if start_ratio and start_ratio[0] is not None:
        parts.append(f"start_vs_unbound={start_ratio[0]:.3f}")
    met = [v.met for v in judged if v.met is not None]
    parts.append(f"targets_met={sum(met)}/{len(met)}")
    return " ".join(parts)


def report(
    results: Results, facts: dict[str, str], header: Sequence[str], summary_line: str
) -> list[str]:
    lines = ["", "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()), *header]
    lines += ["", "Start to first (blocked) answer, with the list loaded:", *startup_table(results)]
    for wname, rows in results.workloads.items():
        lines += ["", f"Workload {wname}:", *workload_table(rows)]
        lines += results.notes.get(wname, [])
    judged = verdicts(results)
    if judged:
        lines += ["", "Targets (ratios measured in this run; q/s: median of per-round ratios):"]
        lines += [v.line() for v in judged]
    info = info_ratios(results)
    if info:
        lines += ["", "Other ratios (no target; median of per-round ratios):"]
        lines += [v.line() for v in info]
    lines += ["", summary_line]
    return lines
