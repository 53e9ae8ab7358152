"""A UDP "DNS server" that sends each query back with the QR bit set, and nothing else.

It does the least any Python DNS server on an event loop must do per packet (one
datagram_received call, one sendto), so its queries per second are the ceiling Straja's
hot path is compared with. Runs on uvloop when it is installed, as Straja's workers do.

    python bench/echo_server.py 127.0.0.1:5300
"""

from __future__ import annotations

import asyncio
import signal
import sys


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) >= 12:
            self.transport.sendto(data[:2] + bytes((data[2] | 0x80,)) + data[3:], addr)


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=(host, port))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    transport.close()


def main(argv: list[str]) -> int:
    if len(argv) != 1 or ":" not in argv[0]:
        print("usage: echo_server.py HOST:PORT", file=sys.stderr)
        return 2
    host, _, port = argv[0].rpartition(":")
    try:
        import uvloop
    except ImportError:
        print("echo_server: uvloop is not installed; using asyncio's loop", file=sys.stderr)
        asyncio.run(serve(host.strip("[]"), int(port)))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(host.strip("[]"), int(port)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
