"""HL7 v2 benchmark: ORU^R01 messages parsed + mapped per second, and end to end over MLLP into SQLite.

Messages are the real ORU^R01 samples of shared/data/hl7v2 (5 messages, 1 to 28 OBX each), made
unique per copy (control id, patient id, order numbers) so nothing is deduplicated. Parse+map runs in
1 process and in 2 processes (the 2-core figure); the MLLP run starts the listener in-process with
validation on (the production default) and 4 concurrent sender connections.
Anchor: the issue's target of >= 2,000 ORU^R01/s parsed and mapped on 2 cores.
Usage: python bench/hl7v2.py [--messages 5000] [--mllp-messages 1500] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from healthbrain.core.db import create_db_engine
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest.hl7v2 import default_catalog, map_message, parse_message
from healthbrain.ingest.hl7v2.mllp import FS, MllpConfig, MllpServer, frame
from healthbrain.ingest.hl7v2.pipeline import Hl7Ingestor
from healthbrain.storage.migrate import upgrade_database

from common import DATA, machine, median, save

SAMPLES = [
    "LAB-ORU-1.hl7",
    "LAB-ORU-2.hl7",
    "LRI_2.0-NG_CBC_Typ_Message.hl7",
    "ORU-R01-RMGEAD.hl7",
    "ORU-R01-01.hl7",
]


def unique_copy(raw: bytes, n: int) -> bytes:
    """The message with its MSH-10, PID-3 value and order numbers made unique for copy `n`."""
    lines = re.split(rb"\r\n|\r|\n", raw.lstrip(b"\xef\xbb\xbf"))
    out = []
    for line in lines:
        if not line:
            continue
        parts = line.split(b"|")
        if parts[0] == b"MSH" and len(parts) > 9:
            parts[9] = b"B%d" % n
        elif parts[0] == b"PID" and len(parts) > 3:
            parts[3] = b"BP%d" % n + parts[3][parts[3].find(b"^") :] if b"^" in parts[3] else b"BP%d" % n
        elif parts[0] in (b"OBR", b"ORC"):
            for i in (2, 3):
                if len(parts) > i and parts[i]:
                    parts[i] = b"%d-" % n + parts[i]
        out.append(b"|".join(parts))
    return b"\r".join(out) + b"\r"


def corpus(count: int) -> list[bytes]:
    raws = [(DATA / "hl7v2" / "messages" / name).read_bytes() for name in SAMPLES]
    return [unique_copy(raws[i % len(raws)], i) for i in range(count)]


def parse_and_map(messages: list[bytes]) -> int:
    catalog = default_catalog()
    resources = 0
    for raw in messages:
        resources += len(map_message(parse_message(raw), catalog).bundle["entry"])
    return resources


def timed(messages: list[bytes]) -> float:
    """CPU seconds to parse and map `messages` in this process (robust to a busy machine)."""
    started = time.process_time()
    parse_and_map(messages)
    return time.process_time() - started


def bench_mapping(count: int, processes: int) -> tuple[float, float]:
    """(wall-clock rate, CPU rate): the CPU rate is what `processes` idle cores would give."""
    messages = corpus(count)
    parse_and_map(messages[:50])  # warm the spec cache and imports
    if processes == 1:
        started = time.perf_counter()
        cpu = timed(messages)
        return count / (time.perf_counter() - started), count / cpu
    chunks = [messages[i::processes] for i in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(timed, [c[:20] for c in chunks]))  # start the workers
        started = time.perf_counter()
        cpu = list(pool.map(timed, chunks))
        wall = time.perf_counter() - started
    return count / wall, count / max(cpu)


async def _send_all(port: int, messages: list[bytes], connections: int) -> list[bytes]:
    async def sender(part: list[bytes]) -> list[bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        acks = []
        for raw in part:
            writer.write(frame(raw))
            await writer.drain()
            acks.append(await reader.readuntil(FS + b"\r"))
        writer.close()
        return acks

    results = await asyncio.gather(*(sender(messages[i::connections]) for i in range(connections)))
    return [a for r in results for a in r]


def bench_mllp(count: int, connections: int = 4) -> tuple[float, int]:
    messages = corpus(count)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_db_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade_database(engine)
        ingestor = Hl7Ingestor(FhirRepository(engine, validate=True))

        async def main() -> tuple[float, list[bytes]]:
            server = MllpServer(ingestor.handle_frame, MllpConfig(port=0, workers=2, queue_size=64))
            await server.start()
            started = time.perf_counter()
            acks = await _send_all(server.port, messages, connections)
            seconds = time.perf_counter() - started
            await server.stop()
            return seconds, acks

        seconds, acks = asyncio.run(main())
        with engine.connect() as conn:
            stored = sum(FhirRepository(engine).store.type_counts(conn).values())
        engine.dispose()
    accepted = sum(1 for a in acks if b"MSA|AA|" in a or b"MSA|CA|" in a)
    assert accepted == count, f"{count - accepted} messages were not accepted"
    return count / seconds, stored


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--mllp-messages", type=int, default=1500)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    results: dict[str, object] = {"machine": machine(), "messages": args.messages, "samples": SAMPLES}
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for processes in (1, 2):
        runs = [bench_mapping(args.messages, processes) for _ in range(args.runs)]
        for wall, cpu in runs:
            print(f"parse+map, {processes} process(es): {wall:,.0f} ORU^R01/s wall, {cpu:,.0f}/s by CPU time")
        results[f"parse_map_{processes}proc_per_s"] = {
            "wall": [w for w, _ in runs],
            "cpu": [c for _, c in runs],
            "median": median([w for w, _ in runs]),
            "median_cpu": median([c for _, c in runs]),
        }
    rates = []
    for _ in range(args.runs):
        rate, stored = bench_mllp(args.mllp_messages)
        rates.append(rate)
        print(f"MLLP end to end into SQLite: {rate:,.0f} messages/s ({stored:,} resources stored)")
    results["mllp_sqlite_per_s"] = {"runs": rates, "median": median(rates), "messages": args.mllp_messages}
    one, two = results["parse_map_1proc_per_s"], results["parse_map_2proc_per_s"]
    print(
        f"median: parse+map {one['median']:,.0f}/s wall ({one['median_cpu']:,.0f}/s CPU) in 1 process, "  # type: ignore[index]
        f"{two['median']:,.0f}/s wall ({two['median_cpu']:,.0f}/s CPU) in 2 (target >= 2,000/s on 2 cores); "  # type: ignore[index]
        f"MLLP into SQLite {median(rates):,.0f} messages/s; load average after {os.getloadavg()[0]:.2f}"
    )
    print(f"saved to {save('hl7v2', results)}")


if __name__ == "__main__":
    main()
