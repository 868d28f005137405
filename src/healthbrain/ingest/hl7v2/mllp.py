"""The MLLP listener: asyncio TCP (optionally TLS), one message in flight per connection, a bounded
queue in front of the worker threads that write to the repository.

Framing: `<VT> message <FS><CR>` (bytes before VT are discarded; the CR is optional on input).
Backpressure: a connection's next frame is not read until its ACK is written and drained, and the
queue to the workers is bounded, so slow senders, slow readers or a slow database never pile up
messages in memory. A misbehaving connection is closed without disturbing the others.
See: HL7 v2.8 Appendix C (Minimal Lower Layer Protocol, release 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("healthbrain.ingest.mllp")

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"
Handler = Callable[[bytes], bytes | None]


@dataclass(frozen=True, slots=True)
class MllpConfig:
    """Listener settings: address, TLS, and the bounds that keep memory flat."""

    host: str = "127.0.0.1"
    port: int = 2575
    ssl: ssl.SSLContext | None = None
    queue_size: int = 64
    workers: int = 2
    max_message_bytes: int = 16 * 1024 * 1024
    idle_timeout: float = 300.0
    max_connections: int = 256


@dataclass(slots=True)
class MllpStats:
    """Counters for tests and metrics (ids and counts only)."""

    connections: int = 0
    open_connections: int = 0
    refused_connections: int = 0
    frames: int = 0
    acks: int = 0
    framing_errors: int = 0
    max_queue_depth: int = 0
    handler_errors: int = 0


def server_ssl_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """TLS 1.2+ server context; with `client_ca`, clients must present a certificate it signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(str(client_ca))
    return context


def frame(payload: bytes) -> bytes:
    """Wrap one message (or ACK) in MLLP framing."""
    return VT + payload + FS + CR


class MllpServer:
    """Serves MLLP on one socket; `handler` turns a message into its ACK (None: send nothing)."""

    def __init__(self, handler: Handler, config: MllpConfig | None = None) -> None:
        self.handler = handler
        self.config = config or MllpConfig()
        self.stats = MllpStats()
        self._queue: asyncio.Queue[tuple[bytes, asyncio.Future[bytes | None]] | None] | None = None
        self._server: asyncio.Server | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._connections: set[asyncio.Task[None]] = set()
        self._executor = ThreadPoolExecutor(max_workers=self.config.workers, thread_name_prefix="mllp")

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.config.queue_size)
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.config.workers)]
        self._server = await asyncio.start_server(
            self._accept,
            self.config.host,
            self.config.port,
            ssl=self.config.ssl,
            limit=self.config.max_message_bytes,
        )
        log.info("mllp listening", extra={"fields": {"port": self.port, "tls": self.config.ssl is not None}})

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def stop(self) -> None:
        """Stop accepting, let queued messages finish, close connections and workers."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._queue is not None:
            for _ in self._workers:
                await self._queue.put(None)
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._executor.shutdown(wait=True)

    # ---- connections --------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if self.stats.open_connections >= self.config.max_connections:
            self.stats.refused_connections += 1
            writer.close()
            return
        self.stats.connections += 1
        self.stats.open_connections += 1
        if task is not None:
            self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass  # stop() closes connections by cancelling them
        finally:
            self.stats.open_connections -= 1
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, asyncio.CancelledError, TimeoutError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                data = await asyncio.wait_for(reader.readuntil(FS), self.config.idle_timeout)
            except asyncio.LimitOverrunError:
                self.stats.framing_errors += 1
                log.warning("mllp frame too large; connection closed")
                return
            except asyncio.IncompleteReadError as exc:
                if exc.partial.strip(CR + b"\n \t"):
                    self.stats.framing_errors += 1  # a message cut off before its end block
                return
            start = data.find(VT)
            payload = data[start + 1 if start >= 0 else 0 : -1].strip(CR + b"\n")
            if not payload.strip():
                continue
            self.stats.frames += 1
            reply = await self._submit(payload)
            if reply is not None:
                writer.write(frame(reply))
                await writer.drain()
                self.stats.acks += 1

    async def _submit(self, payload: bytes) -> bytes | None:
        assert self._queue is not None
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        await self._queue.put((payload, future))  # waits while the queue is full: backpressure
        self.stats.max_queue_depth = max(self.stats.max_queue_depth, self._queue.qsize())
        return await future

    # ---- workers ------------------------------------------------------------------------------
    async def _work(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            item = await self._queue.get()
            if item is None:
                return
            payload, future = item
            try:
                reply = await loop.run_in_executor(self._executor, self.handler, payload)
            except Exception as exc:  # a handler bug must not take the listener down
                self.stats.handler_errors += 1
                log.error("mllp handler failed", extra={"fields": {"error": type(exc).__name__}})
                reply = None
            if not future.done():
                future.set_result(reply)


async def run_server(
    handler: Handler, config: MllpConfig, ready: Callable[[int], None] | None = None
) -> None:
    """Serve until cancelled (the CLI cancels on SIGINT/SIGTERM)."""
    server = MllpServer(handler, config)
    await server.start()
    if ready is not None:
        ready(server.port)
    try:
        await server.serve_forever()
    finally:
        await server.stop()
