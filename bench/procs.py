"""Processes under measurement: start pinned to CPUs, read their CPU time and peak memory.

Everything here reads /proc, so it is Linux-only, like the appliance.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

TASKSET = shutil.which("taskset")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1


def pinned(cmd: Sequence[str], cpus: str | None) -> list[str]:
    """`cmd` prefixed with `taskset -c CPUS` when pinning was asked for and is possible.

    taskset execs the command, so the pid Popen returns is the server's own, and processes
    the server forks inherit the CPU set.
    """
    if cpus and TASKSET:
        return [TASKSET, "-c", cpus, *cmd]
    return list(cmd)


def _die_with_parent() -> None:
    # A server must never outlive the harness, even when the harness is SIGKILLed.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def spawn(
    cmd: Sequence[str],
    cpus: str | None,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server process pinned to `cpus`, its output appended to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            pinned(cmd, cpus),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            preexec_fn=_die_with_parent,
        )


def terminate(proc: subprocess.Popen[bytes], grace: float = 10.0) -> int:
    """SIGTERM, then SIGKILL after `grace` seconds; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def probe_query(name: str, msg_id: int = 0x5354) -> bytes:
    """A plain A query for `name` with RD set, as wire bytes."""
    qname = b"".join(bytes((len(p),)) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    return struct.pack("!HHHHHH", msg_id, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)


def wait_first_answer(
    host: str,
    port: int,
    query: bytes,
    proc: subprocess.Popen[bytes],
    timeout: float = 120.0,
    accept: Callable[[bytes], bool] | None = None,
) -> None:
    """Poll with `query` over UDP every few milliseconds until an answer comes back that
    `accept` takes (any answer to it without `accept`).

    A server loading a big list may bind its socket first and answer the queued probes
    only once loaded; an answer given before the list is in force (a server failing open)
    is not taken when `accept` checks for the blocked answer.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
        sock.settimeout(0.005)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode} before answering")
            try:
                sock.send(query)
                reply = sock.recv(65535)
                if reply[:2] == query[:2] and (accept is None or accept(reply)):
                    return
            except ConnectionRefusedError:
                time.sleep(0.002)  # nothing bound yet: the ICMP error came back at once
            except TimeoutError:
                pass
    raise RuntimeError(f"nothing answered on {host}:{port} within {timeout:.0f}s")


def rcode_of(reply: bytes) -> int:
    """The RCODE of a DNS message (without EDNS extended bits)."""
    return reply[3] & 0x0F if len(reply) >= 12 else -1


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after the last ')'.
    return text[text.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """`root` and all its live descendants (a supervisor and its workers)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    tree = [root]
    i = 0
    while i < len(tree):
        tree.extend(parents.get(tree[i], ()))
        i += 1
    return tree


def cpu_seconds(pids: Sequence[int]) -> tuple[float, float]:
    """(user, system) CPU time of these processes, all their threads, in seconds."""
    user = system = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            user += int(fields[11])
            system += int(fields[12])
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def parse_cpu_list(text: str | None) -> set[int]:
    """taskset's CPU list syntax (`0`, `0,2`, `0-3`); None means every CPU we may use."""
    if not text:
        return set(os.sched_getaffinity(0))
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def busy_seconds(cpus: set[int]) -> float:
    """Time these CPUs spent not idle since boot: every process, interrupts, and steal."""
    busy = 0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, values[:8])
            busy += user + nice + system + irq + softirq + steal
    return busy / CLOCK_TICKS


def memory_bytes(pids: Sequence[int]) -> dict[str, int]:
    """VmHWM (peak resident set), VmRSS, RssAnon and RssFile summed over these processes.

    Pages that forked workers share with their supervisor are counted once per process, so
    for workers > 1 these are upper bounds. RssFile is mostly mapped files: for Straja the
    compiled list's pages, which the page cache shares between all processes mapping it.
    """
    keys = {"VmHWM": "peak", "VmRSS": "rss", "RssAnon": "anon", "RssFile": "file"}
    total = dict.fromkeys(keys.values(), 0)
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            key, _, value = line.partition(":")
            if key in keys:
                total[keys[key]] += int(value.split()[0]) * 1024
    return total
