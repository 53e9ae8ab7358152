"""A hostile upstream for the tests: a UDP server whose answer depends on the question's
first label, so one server plays every kind of bad upstream.

    ok-*        a correct answer (A 192.0.2.99)
    selfptr-*   an answer record whose owner is a compression pointer to itself
    pastend-*   an answer record whose owner is the pointer 0xFFFF, past the end
    loop-*      a CNAME whose target points into itself
    garbage-*   the right ID and question, then records that do not parse
    noise-*     random bytes
    wrong-*     a correct answer for another question, with the right ID
    otherport-* the right answer, sent from another port
    oversized-* the right answer padded past the size the query advertised
    slowN-*     the right answer after N seconds
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

_H = struct.Struct("!HHHHHH")


def _question(query: bytes) -> tuple[bytes, int]:
    off = 12
    while query[off]:
        off += 1 + query[off]
    return query[12 : off + 5], off + 5


def _header(query: bytes, ancount: int, arcount: int = 0) -> bytes:
    msg_id, flags = struct.unpack_from("!HH", query)
    return _H.pack(msg_id, 0x8000 | 0x0080 | (flags & 0x0110), 1, ancount, 0, arcount)


def _a_record(owner: bytes) -> bytes:
    return owner + struct.pack("!HHIH", 1, 1, 300, 4) + bytes((192, 0, 2, 99))


def answer_for(query: bytes) -> bytes:
    """The correct answer to `query`: one A record, 192.0.2.99."""
    question, _ = _question(query)
    return _header(query, 1) + question + _a_record(b"\xc0\x0c")


def hostile_answer(kind: str, query: bytes) -> bytes | None:
    question, _ = _question(query)
    if kind == "selfptr":
        at = 12 + len(question)
        return _header(query, 1) + question + _a_record(struct.pack("!H", 0xC000 | at))
    if kind == "pastend":
        return _header(query, 1) + question + _a_record(b"\xff\xff")
    if kind == "loop":
        at = 12 + len(question) + 2 + 10  # the CNAME's rdata: a pointer to itself
        cname = b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 300, 2) + struct.pack("!H", 0xC000 | at)
        return _header(query, 1) + question + cname
    if kind == "garbage":
        return _header(query, 5) + question + b"\x03abc\x00\x00"
    if kind == "noise":
        return query[:2] + os.urandom(60)
    if kind == "wrong":
        other = b"\x05other" + question[question[0] + 1 :]
        return _header(query, 1) + other + _a_record(b"\xc0\x0c")
    if kind == "oversized":
        strings = (b"\xff" + b"x" * 255) * 6
        txt = b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 300, len(strings)) + strings
        return _header(query, 2) + question + _a_record(b"\xc0\x0c") + txt
    return answer_for(query)


class HostileUpstream:
    """The server, in a thread on `host`; `seen` counts the queries it got per kind."""

    def __init__(self, host: str = "127.0.0.6") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other.bind((host, 0))
        self.address = f"{host}:{self.sock.getsockname()[1]}"
        self.seen: dict[str, int] = {}
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            try:
                query, addr = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            label = query[13 : 13 + query[12]].decode("ascii", "replace")
            kind = label.split("-", 1)[0]
            self.seen[kind] = self.seen.get(kind, 0) + 1
            if kind.startswith("slow") and kind[4:].isdigit():
                timer = threading.Timer(int(kind[4:]), self._send, (answer_for(query), addr))
                timer.daemon = True
                timer.start()
                continue
            packet = hostile_answer(kind, query)
            if packet is None:
                continue
            sender = self.other if kind == "otherport" else self.sock
            sender.sendto(packet, addr)

    def _send(self, packet: bytes, addr: tuple[str, int]) -> None:
        if self.running:
            self.sock.sendto(packet, addr)

    def close(self) -> None:
        self.running = False
        self.thread.join()
        time.sleep(0)
        self.sock.close()
        self.other.close()
