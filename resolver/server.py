"""Sockets and lifecycle of one worker: UDP and TCP (RFC 7766) listeners around a Resolver."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from resolver import activation, wire
from resolver.core import Resolver, ServerConfig
from resolver.lists import ListWatcher
from resolver.settings import DnsSettings, HostPort
from resolver.sockets import bind_socket

if TYPE_CHECKING:
    from resolver.encrypted import DotListeners

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
    """RFC 7766: length-framed queries, several per connection, answered as they complete.

    Connections are bounded in total and per client address (trusted forwarders, which
    carry many clients, are exempt from the latter). A connection may wait
    `idle_timeout` for a message to begin, and then `read_timeout` for the rest of it, so
    that a slow-loris client trickling bytes holds a slot for seconds, not forever.
    """

    def __init__(self, resolver: Resolver, idle_timeout: float, max_clients: int,
                 max_per_client: int = 16, read_timeout: float = 5.0) -> None:
        self.resolver = resolver
        self.idle_timeout = idle_timeout
        self.max_clients = max_clients
        self.max_per_client = max_per_client
        self.read_timeout = read_timeout
        self.clients = 0
        self.per_client: dict[str, int] = {}

    def configure(self, dns: DnsSettings) -> None:
        self.idle_timeout = dns.tcp_idle_timeout
        self.max_clients = dns.max_tcp_clients
        self.max_per_client = dns.max_tcp_per_client
        self.read_timeout = dns.tcp_read_timeout

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counters = self.resolver.counters
        peer = writer.get_extra_info("peername")
        host = peer[0] if peer else ""
        if self.clients >= self.max_clients:
            counters.tcp_refused += 1
            writer.transport.abort()
            return
        held = self.per_client.get(host, 0)
        if held >= self.max_per_client and not self.resolver.client(host)[2]:
            counters.tcp_refused_per_client += 1
            writer.transport.abort()
            return
        self.per_client[host] = held + 1
        self.clients += 1
        counters.tcp_connections += 1
        pending: set[asyncio.Task[None]] = set()
        try:
            while True:
                first = await asyncio.wait_for(reader.readexactly(1), self.idle_timeout)
                try:
                    data = await asyncio.wait_for(self._rest(reader, first), self.read_timeout)
                except TimeoutError:
                    counters.tcp_slow_closed += 1
                    raise
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
            left = self.per_client[host] - 1
            if left:
                self.per_client[host] = left
            else:
                del self.per_client[host]
            writer.close()

    @staticmethod
    async def _rest(reader: asyncio.StreamReader, first: bytes) -> bytes:
        """The rest of a message whose first length byte has arrived."""
        length = _LEN.unpack(first + await reader.readexactly(1))[0]
        return await reader.readexactly(length)

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
        udp_sock = activation.claim(self.address, socket.SOCK_DGRAM) or bind_socket(
            self.address, socket.SOCK_DGRAM, reuse_port
        )
        port = udp_sock.getsockname()[1]
        self.bound = HostPort(self.address.host, port)
        try:
            tcp_sock = activation.claim(self.bound, socket.SOCK_STREAM) or bind_socket(
                self.bound, socket.SOCK_STREAM, reuse_port
            )
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
        self.tcp = TcpService(self.resolver, config.dns.tcp_idle_timeout,
                              config.dns.max_tcp_clients)
        self.tcp.configure(config.dns)
        self.dot: DotListeners | None = None

    @property
    def bound(self) -> list[HostPort]:
        """The addresses actually bound (a configured port 0 becomes the kernel's choice)."""
        return [lst.bound for lst in self.listeners.values()]

    async def start(self) -> None:
        """Bind every configured address on UDP and TCP; raises OSError if one cannot be bound."""
        try:
            for address in self.resolver.config.dns.listen:
                await self._open(address)
            if self.resolver.config.dns.tls_listen:
                from resolver.encrypted import DotListeners  # loads ssl only when configured

                self.dot = DotListeners()
                await self.dot.open(self.resolver.config.dns, self.tcp, self.reuse_port)
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
        self.tcp.configure(config.dns)
        if self.dot is not None:
            self.dot.reload(config.dns)
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

    @property
    def bound_tls(self) -> list[HostPort]:
        return self.dot.bound if self.dot is not None else []

    def close_listeners(self) -> None:
        if self.dot is not None:
            self.dot.close()
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
        self.resolver.close_upstreams()
