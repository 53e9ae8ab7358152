"""Forwarding: failover across upstreams, random IDs and ports, strict answer matching."""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.query
import dns.rcode

from tests.servers import free_port


class SilentUpstream:
    """A UDP socket that records queries and never answers: an upstream that times out."""

    def __init__(self, host: str = "127.0.0.4") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.address = f"{host}:{self.sock.getsockname()[1]}"
        self.seen: list[tuple[bytes, tuple[str, int]]] = []
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            try:
                self.seen.append(self.sock.recvfrom(4096))
            except (TimeoutError, OSError):
                continue

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


class SpoofingUpstream(SilentUpstream):
    """Answers every query first with a wrong ID and then a wrong question: both ignored."""

    def _run(self) -> None:
        while self.running:
            try:
                data, addr = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            self.seen.append((data, addr))
            q = dns.message.from_wire(data)
            wrong_id = dns.message.make_response(q)
            wrong_id.id = (q.id + 1) & 0xFFFF
            self.sock.sendto(wrong_id.to_wire(), addr)
            other = dns.message.make_query("evil.example.test", "A")
            other.id = q.id
            forged = dns.message.make_response(other)
            self.sock.sendto(forged.to_wire(), addr)


def test_failover_from_a_silent_upstream(straja_factory, unbound) -> None:
    silent = SilentUpstream()
    try:
        s = straja_factory({
            "upstreams": [silent.address, unbound.address],
            "dns": {"upstream_timeout": "400ms"},
        })
        r = s.query("www.example.test", "A")
        assert [str(x) for x in r.answer[0]] == ["192.0.2.10"]
        assert silent.seen, "the first upstream was tried first"
    finally:
        silent.close()


def test_failover_from_a_closed_port(straja_factory, unbound) -> None:
    dead = f"127.0.0.5:{free_port('127.0.0.5')}"
    s = straja_factory({"upstreams": [dead, unbound.address]})
    r = s.query("mixed.example.test", "A")
    assert [str(x) for x in r.answer[0]] == ["192.0.2.12"]


def test_answers_with_wrong_id_or_question_are_ignored(straja_factory) -> None:
    spoofer = SpoofingUpstream()
    try:
        s = straja_factory({"upstreams": [spoofer.address], "dns": {"upstream_timeout": "500ms",
                                                              "upstream_max_wait": "500ms"}})
        r = s.query("www.example.test", "A")
        assert r.rcode() == dns.rcode.SERVFAIL
    finally:
        spoofer.close()


def test_each_upstream_query_uses_a_random_id_and_source_port(straja_factory) -> None:
    silent = SilentUpstream()
    try:
        s = straja_factory({"upstreams": [silent.address], "dns": {"upstream_timeout": "200ms",
                                                            "upstream_max_wait": "200ms"}})
        import concurrent.futures

        # At once, mostly: an upstream that failed three times in a row is marked down for
        # a while and asked nothing more, so at least three reach it however slowly the
        # queries arrive (under qemu they may come one after the other).
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda i: s.query(f"n{i}.example.test", "A"), range(6)))
        ids = [dns.message.from_wire(d).id for d, _ in silent.seen]
        ports = [addr[1] for _, addr in silent.seen]
        assert len(silent.seen) >= 3
        assert len(set(ids)) >= len(ids) - 1 and len(set(ports)) >= len(ports) - 1
    finally:
        silent.close()


def test_unknown_edns_options_do_not_travel_upstream(straja_factory) -> None:
    silent = SilentUpstream()
    try:
        s = straja_factory({"upstreams": [silent.address], "dns": {"upstream_timeout": "200ms",
                                                            "upstream_max_wait": "200ms"}})
        opt = dns.edns.GenericOption(65100, b"private")
        q = dns.message.make_query("www.example.test", "A", use_edns=0, options=[opt])
        dns.query.udp(q, s.host, port=s.port, timeout=5)
        assert silent.seen
        sent = dns.message.from_wire(silent.seen[0][0])
        assert sent.edns == 0 and not sent.options
    finally:
        silent.close()


def test_upstream_queries_in_flight_are_bounded(straja_factory) -> None:
    silent = SilentUpstream()
    try:
        s = straja_factory({"upstreams": [silent.address],
                            "dns": {"upstream_timeout": "3s", "upstream_max_wait": "3s",
                                    "max_upstream_in_flight": 2}})
        import concurrent.futures

        names = [f"slow{i}.example.test" for i in range(5)]
        with concurrent.futures.ThreadPoolExecutor(5) as pool:
            # A generous client timeout: each waits out the 3 s upstream timeout, more
            # under emulation.
            answers = list(pool.map(lambda n: dns.query.udp(
                dns.message.make_query(n, "A"), s.host, port=s.port, timeout=30), names))
        codes = sorted(dns.rcode.to_text(a.rcode()) for a in answers)
        assert codes == ["SERVFAIL"] * 5
        # At most two reached the upstream; the rest were refused at once, not queued.
        assert len({dns.message.from_wire(d).question[0].name for d, _ in silent.seen}) <= 2
    finally:
        silent.close()
