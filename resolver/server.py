"""Sockets and lifecycle of one worker: UDP and TCP (RFC 7766) listeners around a Resolver."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable

from resolver import wire
from resolver.core import Resolver, ServerConfig
from resolver.lists import ListWatcher
from resolver.settings import HostPort
from resolver.sockets import bind_socket

log = logging.getLogger("straja.server")

_LEN = struct.Struct("!H")


class UdpService(asyncio.DatagramProtocol):
    """One UDP socket. Cache hits are answered inside datagram_received, misses in a task."""

    def __init__(self, resolver: Resolver, tasks: set[asyncio.Task[None]]) -> None:
        self.resolver = resolver
        self.answer = resolver.answer_fast  # bound once: saves lookups on every query
        self.tasks = tasks
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.sendto = transport.sendto  # type: ignore[attr-defined]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        result = self.answer(data, addr[0], False)
        if result.__class__ is bytes:
            self.sendto(result, addr)
        elif result is not None:
            task = asyncio.get_running_loop().create_task(
                self._slow(data, result, addr)  # type: ignore[arg-type]
            )
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _slow(self, data: bytes, query: wire.Query, addr: tuple[str, int]) -> None:
        try:
            response = await self.resolver.answer_slow(data, query, False)
        except Exception:
            log.exception("error answering %s", query.name_text())
            response = self.resolver.failed(data, query)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(response, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


class TcpService:
    """RFC 7766: length-framed queries, several per connection, answered as they complete."""

    def __init__(self, resolver: Resolver, idle_timeout: float, max_clients: int) -> None:
        self.resolver = resolver
        self.idle_timeout = idle_timeout
        self.max_clients = max_clients
        self.clients = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counters = self.resolver.counters
        if self.clients >= self.max_clients:
            counters.tcp_refused += 1
            writer.close()
            return
        self.clients += 1
        counters.tcp_connections += 1
        peer = writer.get_extra_info("peername")
        host = peer[0] if peer else ""
        pending: set[asyncio.Task[None]] = set()
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), self.idle_timeout)
                length = _LEN.unpack(head)[0]
                data = await asyncio.wait_for(reader.readexactly(length), self.idle_timeout)
                counters.tcp += 1
                result = self.resolver.answer_fast(data, host, True)
                if result is None:
                    break  # not DNS: close the connection
                if isinstance(result, bytes):
                    writer.write(_LEN.pack(len(result)) + result)
                else:
                    task = asyncio.get_running_loop().create_task(self._slow(data, result, writer))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            self.clients -= 1
            writer.close()

    async def _slow(self, data: bytes, query: wire.Query, writer: asyncio.StreamWriter) -> None:
        try:
            response = await self.resolver.answer_slow(data, query, True)
        except Exception:
            log.exception("error answering %s", query.name_text())
            response = self.resolver.failed(data, query)
        if not writer.is_closing():
            writer.write(_LEN.pack(len(response)) + response)


class Listener:
    """The UDP and TCP sockets of one listen address."""

    def __init__(self, address: HostPort) -> None:
        self.address = address
        self.bound: HostPort = address
        self.udp: asyncio.DatagramTransport | None = None
        self.tcp: asyncio.Server | None = None

    async def open(
        self,
        udp_factory: Callable[[], asyncio.DatagramProtocol],
        tcp_handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], object],
        reuse_port: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        udp_sock = bind_socket(self.address, socket.SOCK_DGRAM, reuse_port)
        port = udp_sock.getsockname()[1]
        self.bound = HostPort(self.address.host, port)
        try:
            tcp_sock = bind_socket(self.bound, socket.SOCK_STREAM, reuse_port)
        except OSError:
            udp_sock.close()
            raise
        self.udp, _ = await loop.create_datagram_endpoint(udp_factory, sock=udp_sock)
        self.tcp = await asyncio.start_server(tcp_handler, sock=tcp_sock, backlog=1024)  # type: ignore[arg-type]

    def close(self) -> None:
        if self.udp is not None:
            self.udp.close()
        if self.tcp is not None:
            self.tcp.close()


class DnsServer:
    """One worker: its resolver and its listeners, opened, reloaded and closed together."""

    def __init__(self, config: ServerConfig, reuse_port: bool = False) -> None:
        self.resolver = Resolver(config)
        self.lists = ListWatcher(self.resolver, config.state_path)
        self.lists.configure(config.state_path, config.lists, config.local)
        self._watch: asyncio.Task[None] | None = None
        self.reuse_port = reuse_port
        self.tasks: set[asyncio.Task[None]] = set()
        self.listeners: dict[HostPort, Listener] = {}
        self.tcp = TcpService(
            self.resolver, config.dns.tcp_idle_timeout, config.dns.max_tcp_clients
        )

    @property
    def bound(self) -> list[HostPort]:
        """The addresses actually bound (a configured port 0 becomes the kernel's choice)."""
        return [lst.bound for lst in self.listeners.values()]

    async def start(self) -> None:
        """Bind every configured address on UDP and TCP; raises OSError if one cannot be bound."""
        try:
            for address in self.resolver.config.dns.listen:
                await self._open(address)
        except OSError:
            self.close_listeners()
            raise
        self._watch = asyncio.get_running_loop().create_task(self.lists.run())

    async def _open(self, address: HostPort) -> None:
        listener = Listener(address)
        await listener.open(
            lambda: UdpService(self.resolver, self.tasks), self.tcp.handle, self.reuse_port
        )
        self.listeners[address] = listener
        log.info("listening on %s (UDP and TCP)", listener.bound)

    async def reload(self, config: ServerConfig) -> None:
        """Apply a new config: keep the sockets that stay, open new ones, close removed ones.

        A socket that cannot be bound is logged and skipped; the rest of the config applies.
        """
        self.resolver.configure(config)
        self.lists.configure(config.state_path, config.lists, config.local)
        self.tcp.idle_timeout = config.dns.tcp_idle_timeout
        self.tcp.max_clients = config.dns.max_tcp_clients
        wanted = set(config.dns.listen)
        for address in list(self.listeners):
            if address not in wanted:
                self.listeners.pop(address).close()
                log.info("stopped listening on %s", address)
        for address in config.dns.listen:
            if address not in self.listeners:
                try:
                    await self._open(address)
                except OSError as exc:
                    log.error("cannot listen on %s: %s", address, exc)

    def close_listeners(self) -> None:
        for listener in self.listeners.values():
            listener.close()
        self.listeners.clear()

    async def stop(self, grace: float = 2.0) -> None:
        """Stop taking queries, give in-flight ones `grace` seconds to finish, then close."""
        servers = [lst.tcp for lst in self.listeners.values() if lst.tcp is not None]
        for server in servers:
            server.close()
        if self._watch is not None:
            self._watch.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace)
        self.close_listeners()
        self.lists.close()
