"""The MLLP listener over real sockets: framing, ACK/NAK, re-sends, backpressure, TLS, the CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hl7samples import oru, sample, set_field

from healthbrain.core.db import create_db_engine
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest.hl7v2.mllp import FS, VT, MllpConfig, MllpServer, frame, server_ssl_context
from healthbrain.ingest.hl7v2.pipeline import Hl7Ingestor
from healthbrain.storage.migrate import upgrade_database

ROOT = Path(__file__).resolve().parents[3]


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    data = await asyncio.wait_for(reader.readuntil(FS + b"\r"), 20)
    return data[data.index(VT) + 1 : -2]


def msa(ack: bytes) -> list[str]:
    line = next(s for s in ack.decode().split("\r") if s.startswith("MSA"))
    return line.split("|")


def serve(
    handler: Callable[[bytes], bytes | None], scenario: Callable[[int], Awaitable[Any]], **config: Any
) -> Any:
    """Run `scenario(port)` against a listener on a free loopback port; returns (result, stats)."""

    async def main() -> Any:
        server = MllpServer(handler, MllpConfig(host="127.0.0.1", port=0, **config))
        await server.start()
        try:
            return await scenario(server.port), server.stats
        finally:
            await server.stop()

    return asyncio.run(main())


async def exchange(port: int, *payloads: bytes, tls: ssl.SSLContext | None = None) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
    try:
        out = []
        for payload in payloads:
            writer.write(frame(payload))
            await writer.drain()
            out.append(await read_frame(reader))
        return out
    finally:
        writer.close()


@pytest.fixture
def ingestor(repo: FhirRepository) -> Hl7Ingestor:
    return Hl7Ingestor(repo)


def test_a_message_over_mllp_is_stored_and_acknowledged(ingestor: Hl7Ingestor) -> None:
    (ack,), stats = serve(ingestor.handle_frame, lambda port: exchange(port, oru(control_id="M1")))
    assert msa(ack)[:3] == ["MSA", "AA", "M1"]
    with ingestor.repo.engine.connect() as conn:
        assert ingestor.repo.store.type_counts(conn)["Observation"] == 2
    assert (stats.frames, stats.acks) == (1, 1)


def test_nak_paths_over_the_socket(ingestor: Hl7Ingestor) -> None:
    payloads = (
        set_field(oru(control_id="N1"), "OBX", 5, "high"),  # bad value → AE at OBX-5
        b"this is not HL7 at all",  # no MSH → AR
        set_field(oru(control_id="N2"), "MSH", 9, "ADT^Z99"),  # unsupported event → AR 201
        oru(control_id="N3"),  # the connection still works after the NAKs
    )
    acks, _ = serve(ingestor.handle_frame, lambda port: exchange(port, *payloads))
    assert [msa(a)[1] for a in acks] == ["AE", "AR", "AR", "AA"]
    err = next(s for s in acks[0].decode().split("\r") if s.startswith("ERR")).split("|")
    assert err[2] == "OBX^1^5^1" and err[3].startswith("102^")
    assert "201^" in acks[2].decode()


def test_a_resent_message_is_acked_without_being_ingested_twice(ingestor: Hl7Ingestor) -> None:
    acks, _ = serve(
        ingestor.handle_frame, lambda port: exchange(port, oru(control_id="D1"), oru(control_id="D1"))
    )
    assert [msa(a)[1] for a in acks] == ["AA", "AA"]
    assert "already accepted" in acks[1].decode()
    with ingestor.repo.engine.connect() as conn:
        assert ingestor.repo.store.type_counts(conn)["Observation"] == 2


def test_pipelined_messages_are_answered_in_order(ingestor: Hl7Ingestor) -> None:
    async def scenario(port: int) -> list[str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"".join(frame(oru(control_id=f"P{i}", patient=f"MRN{i}")) for i in range(5)))
        await writer.drain()
        ids = [msa(await read_frame(reader))[2] for _ in range(5)]
        writer.close()
        return ids

    ids, _ = serve(ingestor.handle_frame, scenario)
    assert ids == [f"P{i}" for i in range(5)]


def test_broken_connections_do_not_disturb_the_others(ingestor: Hl7Ingestor) -> None:
    async def scenario(port: int) -> bytes:
        # A sender that dies mid-message, and one whose frame exceeds the size limit.
        _r1, cut = await asyncio.open_connection("127.0.0.1", port)
        cut.write(VT + oru(control_id="C0")[:60])
        await cut.drain()
        cut.close()
        r2, huge = await asyncio.open_connection("127.0.0.1", port)
        try:
            huge.write(VT + b"MSH|" + b"x" * 300_000)
            await huge.drain()
            closed = await asyncio.wait_for(r2.read(), 10)
        except (ConnectionResetError, BrokenPipeError):
            closed = b""  # the server hung up while we were still sending: closed just the same
        (ack,) = await exchange(port, oru(control_id="C1"))
        return closed + b"|" + ack

    result, stats = serve(ingestor.handle_frame, scenario, max_message_bytes=100_000)
    closed, ack = result.split(b"|", 1)
    assert closed == b"" and msa(ack)[1] == "AA"
    assert stats.framing_errors >= 1


def test_a_bounded_queue_holds_back_senders_when_the_store_is_slow(ingestor: Hl7Ingestor) -> None:
    def slow(raw: bytes) -> bytes | None:
        time.sleep(0.05)
        return ingestor.handle_frame(raw)

    async def scenario(port: int) -> list[str]:
        sends = [exchange(port, oru(control_id=f"B{i}", patient=f"B{i}")) for i in range(12)]
        return [msa(acks[0])[1] for acks in await asyncio.gather(*sends)]

    codes, stats = serve(slow, scenario, queue_size=2, workers=1)
    assert codes == ["AA"] * 12
    assert stats.max_queue_depth <= 2 and stats.connections == 12


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_mllp_over_tls_with_a_self_signed_certificate(ingestor: Hl7Ingestor, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    client = ssl.create_default_context(cafile=str(cert))
    client.check_hostname = False

    async def scenario(port: int) -> tuple[bytes, bool]:
        (ack,) = await exchange(port, oru(control_id="T1"), tls=client)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)  # plain TCP to a TLS port
        writer.write(frame(oru(control_id="T2")))
        await writer.drain()
        plain = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return ack, FS in plain

    (ack, plain_answered), _ = serve(ingestor.handle_frame, scenario, ssl=server_ssl_context(cert, key))
    assert msa(ack)[:3] == ["MSA", "AA", "T1"]
    assert not plain_answered


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_healthbrain_mllp_command_serves_and_stores(tmp_path: Path) -> None:
    port, db = free_port(), tmp_path / "hb.db"
    env = {**os.environ, "HEALTHBRAIN_DATABASE_URL": f"sqlite:///{db}"}
    cli = [sys.executable, "-m", "healthbrain.cli.main", "mllp", "--port", str(port)]
    proc = subprocess.Popen(cli, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(frame(sample("LAB-ORU-2.hl7")))
                    data = b""
                    while not data.endswith(FS + b"\r"):
                        chunk = sock.recv(4096)
                        assert chunk, "connection closed before the ACK"
                        data += chunk
                break
            except ConnectionRefusedError:
                assert proc.poll() is None and time.time() < deadline, (
                    proc.stderr.read() if proc.stderr else ""
                )
                time.sleep(0.2)
        assert msa(data[1:-2])[:3] == ["MSA", "AA", "ControlID"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    engine = create_db_engine(f"sqlite:///{db}")
    upgrade_database(engine)
    with engine.connect() as conn:
        stored = FhirRepository(engine).store.type_counts(conn)
    engine.dispose()
    assert stored["Observation"] == 10 and stored["DiagnosticReport"] == 2
