"""Fuzzing Straja over its real sockets: mutated and random packets over UDP and TCP.

A Straja started as a new user would (`straja serve`), forwarding to a *mutating upstream*
in this process that answers every question, half the time with a mangled answer (bits
flipped, bytes cut or inserted, counts changed, compression pointers to themselves or past
the end), so the slow path's answer walker gets garbage too. The packets sent to Straja are
valid queries of many shapes (EDNS sizes, options, DO/CD, random names: cache misses that
go upstream) and mutations of them, plus wholly random bytes.

Checked at the end, as the issue asks:
  * zero crashes: the process is still running and still answers (UDP and TCP);
  * zero unhandled exceptions in its log (no "Traceback", no "error answering");
  * the counters account for every packet: `queries` equals what was sent (UDP datagrams
    and complete TCP frames) plus the sync probes;
  * valid queries are still answered afterwards.

UDP is sent in windows of WINDOW packets, each closed by a probe (a cached question) whose
answer proves Straja has read everything before it, so no datagram is lost to a full socket
buffer and the count can be exact. Each TCP frame waits for its answer or the connection's
close before the next is sent, for the same reason.

Run: .venv/bin/python bench/fuzz.py --packets 1000000   (the test suite runs 20k)
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import Straja, straja_cmd, straja_env  # noqa: E402

WINDOW = 100
PROBE_NAME = "probe.fuzz.test"
TCP_THREADS = 16

_H = struct.Struct("!HHHHHH")


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes((len(label),)) + label.encode()
    return out + b"\x00"


def make_query(rng: random.Random, name: str | None = None) -> bytes:
    """A valid query of a random shape."""
    if name is None:
        labels = [
            "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-") for _ in
                    range(rng.randint(1, 20)))
            for _ in range(rng.randint(1, 4))
        ]
        name = ".".join(labels) + rng.choice([".example.test", ".test", ".com", ""])
    qtype = rng.choice([1, 28, 16, 65, 64, 5, 15, 2, 6, 12, 33, 255, 48, 666, 252, 1, 1, 28])
    qclass = 1 if rng.random() < 0.95 else rng.choice([3, 4, 255, 254])
    flags = 0x0100 if rng.random() < 0.9 else rng.getrandbits(16) & 0x7FFF & ~0x7800
    if rng.random() < 0.1:
        flags |= 0x0010  # CD
    edns = rng.random() < 0.6
    packet = _H.pack(rng.getrandbits(16), flags, 1, 0, 0, 1 if edns else 0)
    packet += encode_name(name) + struct.pack("!HH", qtype, qclass)
    if edns:
        options = b""
        for _ in range(rng.choice([0, 0, 0, 1, 2])):
            code = rng.choice([3, 8, 9, 10, 12, 15, 65001, 100, rng.getrandbits(16)])
            value = rng.randbytes(rng.choice([0, 4, 8, 12, 20]))
            if code == 8 and rng.random() < 0.5:
                value = struct.pack("!HBB", rng.choice([1, 2, 3]), rng.randint(0, 140), 0)
                value += rng.randbytes(rng.randint(0, 17))
            options += struct.pack("!HH", code, len(value)) + value
        ttl = (rng.choice([0, 0, 0, 1]) << 16) | (0x8000 if rng.random() < 0.3 else 0)
        size = rng.choice([512, 1232, 4096, 65535, 0, 1400])
        packet += b"\x00" + struct.pack("!HHIH", 41, size, ttl, len(options)) + options
    return packet


def mutate(rng: random.Random, packet: bytes) -> bytes:
    """One to four random edits of `packet`."""
    data = bytearray(packet)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(9)
        if not data:
            data = bytearray(rng.randbytes(rng.randint(1, 40)))
        at = rng.randrange(len(data))
        if choice == 0:
            data[at] ^= 1 << rng.randrange(8)
        elif choice == 1:
            data[at] = rng.choice([0, 0x3F, 0x40, 0x80, 0xC0, 0xFF, rng.getrandbits(8)])
        elif choice == 2:
            del data[at:at + rng.randint(1, 8)]
        elif choice == 3:
            data[at:at] = rng.randbytes(rng.randint(1, 16))
        elif choice == 4:
            del data[rng.randrange(len(data)) :]
        elif choice == 5 and len(data) >= 12:  # counts: 0, 2, 65535 or random
            field = rng.choice([4, 6, 8, 10])
            data[field : field + 2] = struct.pack("!H", rng.choice([0, 2, 65535,
                                                                     rng.getrandbits(16)]))
        elif choice == 6:  # a compression pointer: to itself, past the end, anywhere
            target = rng.choice([at, 0x3FFF, rng.randrange(len(data) + 1), 12])
            data[at : at + 2] = struct.pack("!H", 0xC000 | (target & 0x3FFF))
        elif choice == 7:  # a long label or a long name
            data[at:at] = bytes((rng.choice([63, 64, 100, 255]),)) + b"a" * rng.randint(0, 300)
        else:
            data += data[12:]  # sections doubled (an OPT twice, two questions)
    return bytes(data)


def packet_for(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.15:
        return rng.randbytes(rng.randint(0, 600))
    if roll < 0.35:
        return make_query(rng)
    return mutate(rng, make_query(rng))


# -- the mutating upstream ---------------------------------------------------------------


def _answer(query: bytes) -> bytes | None:
    """A correct answer to `query`: one A record (or none for other types)."""
    if len(query) < 12:
        return None
    off = 12
    try:
        while query[off]:
            off += 1 + query[off]
    except IndexError:
        return None
    qend = off + 5
    question = query[12:qend]
    if len(question) < 5:
        return None
    msg_id, flags = struct.unpack_from("!HH", query)
    qtype = struct.unpack_from("!H", query, qend - 4)[0]
    records = b""
    count = 0
    if qtype == 1:
        records = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + b"\xc0\x00\x02\x63"
        count = 1
    head = _H.pack(msg_id, 0x8180 | (flags & 0x0010), 1, count, 0, 0)
    return head + question + records


class MutatingUpstream:
    """Answers every query; half the answers to names other than the probe's mangled."""

    def __init__(self, seed: int, host: str = "127.0.0.6") -> None:
        self.rng = random.Random(seed ^ 0x5EED)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.address = f"{host}:{self.sock.getsockname()[1]}"
        self.answered = self.mangled = 0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        probe = encode_name(PROBE_NAME)
        while self.running:
            try:
                query, addr = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            answer = _answer(query)
            if answer is None:
                continue
            if probe not in query and self.rng.random() < 0.5:
                keep = 12 + len(query) if self.rng.random() < 0.7 else 0
                answer = answer[:keep] + mutate(self.rng, answer[keep:] or answer)
                if self.rng.random() < 0.9:
                    answer = query[:2] + answer[2:]  # the right ID: it reaches the walker
                self.mangled += 1
            self.answered += 1
            try:
                self.sock.sendto(answer, addr)
            except OSError:
                pass

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


# -- sending -----------------------------------------------------------------------------


def udp_phase(server: Straja, rng: random.Random, count: int) -> tuple[int, int]:
    """Send `count` packets in windows closed by probes; (packets sent, probes sent)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.connect((server.host, server.port))
    probes = sent = 0
    probe = bytearray(_H.pack(0, 0x0100, 1, 0, 0, 0) + encode_name(PROBE_NAME) + b"\0\1\0\1")
    try:
        while sent < count:
            for _ in range(min(WINDOW, count - sent)):
                sock.send(packet_for(rng))
                sent += 1
            probe_id = rng.getrandbits(16)
            struct.pack_into("!H", probe, 0, probe_id)
            probes += _sync(sock, bytes(probe), probe_id)
    finally:
        sock.close()
    return sent, probes


def _sync(sock: socket.socket, probe: bytes, probe_id: int) -> int:
    """Send the probe until its answer comes (a lost answer is re-asked); probes sent."""
    sock.settimeout(2.0)
    for sent in range(1, 11):
        sock.send(probe)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65535)
            except TimeoutError:
                break
            except ConnectionRefusedError as exc:
                raise RuntimeError("Straja stopped answering (crashed?)") from exc
            if len(data) >= 2 and struct.unpack_from("!H", data)[0] == probe_id:
                return sent
    raise RuntimeError("Straja did not answer a probe within 20 s")


def tcp_phase(server: Straja, seed: int, count: int) -> int:
    """Send `count` framed packets over TCP from TCP_THREADS connections; frames sent."""
    shares = [count // TCP_THREADS + (1 if i < count % TCP_THREADS else 0)
              for i in range(TCP_THREADS)]
    with ThreadPoolExecutor(TCP_THREADS) as pool:
        return sum(pool.map(lambda i: _tcp_worker(server, seed + i, shares[i]),
                            range(TCP_THREADS)))


def _tcp_worker(server: Straja, seed: int, count: int) -> int:
    rng = random.Random(seed)
    conn: socket.socket | None = None
    frames = 0
    try:
        while frames < count:
            if conn is None:
                conn = socket.create_connection((server.host, server.port), timeout=10)
            packet = packet_for(rng)[:65535]
            conn.sendall(struct.pack("!H", len(packet)) + packet)
            frames += 1
            try:
                head = _read(conn, 2)
                _read(conn, struct.unpack("!H", head)[0])
            except (EOFError, OSError):  # Straja closed it: not DNS, or a reset
                conn.close()
                conn = None
    finally:
        if conn is not None:
            conn.close()
    return frames


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


# -- checks ------------------------------------------------------------------------------


def stats(server: Straja) -> dict[str, int]:
    import subprocess

    run = subprocess.run(straja_cmd("stats", "--config", str(server.config_path), "--json"),
                         capture_output=True, text=True, env=straja_env(), timeout=60)
    data = json.loads(run.stdout) if run.returncode == 0 else {}
    return {k: v for k, v in data.items() if isinstance(v, int)}


def still_answers(server: Straja) -> tuple[bool, int]:
    """Whether a valid query for a name not asked before is answered over UDP and TCP,
    and how many tries that took: the hostile upstream may be marked down for its backoff
    (up to 8 s) when the fuzzing ends, and is then probed again."""
    import dns.message
    import dns.query
    import dns.rcode

    for attempt in range(1, 21):
        q = dns.message.make_query(f"check{attempt}.fuzz.test", "A")
        udp = dns.query.udp(q, server.host, port=server.port, timeout=5)
        tcp = dns.query.tcp(q, server.host, port=server.port, timeout=5)
        if udp.rcode() == tcp.rcode() == dns.rcode.NOERROR and udp.answer and tcp.answer:
            return True, attempt
        time.sleep(1)
    return False, 20


def _wait_stats(server: Straja, at_least: int) -> dict[str, int]:
    """The counters once `queries` reaches `at_least` (they are written every 2 s), or
    what they are after 30 s."""
    counted: dict[str, int] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        counted = stats(server)
        if counted.get("queries", 0) >= at_least:
            time.sleep(2.5)  # one more write: nothing more may arrive
            return stats(server)
        time.sleep(1)
    return counted


def _settled(server: Straja, at_least: int) -> int:
    return _wait_stats(server, at_least).get("queries", 0)


def run(packets: int, seed: int = 11, tcp_share: float = 0.1, workdir: Path | None = None
        ) -> dict[str, object]:
    """The whole fuzz run; returns its figures and the checks' outcomes."""
    own = tempfile.TemporaryDirectory(prefix="straja-fuzz-") if workdir is None else None
    base = Path(own.name) if own is not None else workdir
    assert base is not None
    upstream = MutatingUpstream(seed)
    server = Straja(base, {"upstreams": [upstream.address], "log": {"level": "error"},
                           "dns": {"upstream_timeout": "300ms", "upstream_max_wait": "1s"}})
    try:
        server.start()
        baseline = _settled(server, 1)  # the start-up readiness probes
        rng = random.Random(seed)
        tcp_count = int(packets * tcp_share)
        started = time.monotonic()
        udp_sent, probes = udp_phase(server, rng, packets - tcp_count)
        tcp_sent = tcp_phase(server, seed, tcp_count)
        elapsed = time.monotonic() - started
        answering, tries = still_answers(server)
        expected = baseline + udp_sent + probes + tcp_sent + 2 * tries
        counted = _wait_stats(server, expected)
        alive = server.proc is not None and server.proc.poll() is None
        log = server.read_log()
        exceptions = log.count("Traceback") + log.count("error answering")
        return {
            "packets": udp_sent + tcp_sent, "udp": udp_sent, "tcp": tcp_sent,
            "probes": probes, "seconds": round(elapsed, 1),
            "packets_per_second": round((udp_sent + tcp_sent) / elapsed),
            "upstream_answers": upstream.answered, "upstream_mangled": upstream.mangled,
            "alive": alive, "still_answers": answering, "exceptions_in_log": exceptions,
            "expected_queries": expected, "counted_queries": counted.get("queries", 0),
            "counters": counted,
            "log_tail": log[-2000:] if exceptions else "",
        }
    finally:
        server.stop()
        upstream.close()
        if own is not None:
            own.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--tcp-share", type=float, default=0.1)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep Straja's config and log here (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    result = run(args.packets, args.seed, args.tcp_share, args.workdir)
    counters = result.pop("counters")
    tail = result.pop("log_tail")
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    interesting = ("formerr", "notimp", "servfail", "refused_acl", "dropped", "tcp",
                   "upstream_malformed", "upstream_mismatched", "upstream_failures",
                   "any_synthesized", "truncated", "cache_misses")
    assert isinstance(counters, dict)
    print("counters: " + ", ".join(f"{k}={counters.get(k, 0)}" for k in interesting))
    if tail:
        print(tail)
    ok = (result["alive"] and result["still_answers"] and result["exceptions_in_log"] == 0
          and result["counted_queries"] == result["expected_queries"])
    print("verdict:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
