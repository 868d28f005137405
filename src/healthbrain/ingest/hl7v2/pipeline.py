"""One message in, one acknowledgment out: parse, detect re-sends, map, write through the repository.

Everything a message produces commits in one transaction together with its journal row, or
nothing does; every failure becomes a NAK whose ERR segments locate the problem.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from healthbrain.core.context import RequestContext, system_context
from healthbrain.core.errors import Conflict, HealthBrainError, PreconditionFailed, Unprocessable
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.transaction import process_transaction
from healthbrain.ingest.hl7v2 import store
from healthbrain.ingest.hl7v2.ack import ack_code, ack_wanted, build_ack
from healthbrain.ingest.hl7v2.engine import MappedMessage, map_message
from healthbrain.ingest.hl7v2.errors import (
    DATA_TYPE_ERROR,
    DUPLICATE_KEY,
    INTERNAL_ERROR,
    RECORD_LOCKED,
    Hl7Problem,
    Hl7Rejected,
    problem,
)
from healthbrain.ingest.hl7v2.message import Location, Message
from healthbrain.ingest.hl7v2.parser import decode, parse_text, split_batch
from healthbrain.ingest.hl7v2.spec import Catalog, default_catalog

log = logging.getLogger("healthbrain.ingest.hl7v2")
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]\.?(.*)$")
MERGE_LISTS = ("identifier", "link")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one message and the acknowledgment to send (None: the sender wants none)."""

    code: str
    control_id: str
    message_type: str
    duplicate: bool
    entries: int
    problems: tuple[Hl7Problem, ...]
    ack: bytes | None

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")


class Hl7Ingestor:
    """Turns HL7 v2 messages into repository transactions; thread-safe (no mutable state)."""

    def __init__(
        self,
        repo: FhirRepository,
        catalog: Catalog | None = None,
        *,
        ctx: RequestContext | None = None,
        application: str = "HEALTHBRAIN",
        facility: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.catalog = catalog or default_catalog()
        self.ctx = ctx or system_context()
        self.application = application
        self.facility = facility
        self.clock = clock

    def handle_frame(self, raw: bytes) -> bytes | None:
        """The reply to one MLLP frame: a message's ACK, or a batch of ACKs for a batch."""
        parts = split_batch(raw)
        if len(parts) == 1 and parts[0] is raw:
            return self.handle(raw).ack
        acks = [o.ack for o in (self.handle(p) for p in parts) if o.ack is not None]
        now = self._now().strftime("%Y%m%d%H%M%S%z")
        header = f"BHS|^~\\&|{self.application}|{self.facility}|||{now}"
        return header.encode() + b"\r" + b"".join(acks) + f"BTS|{len(acks)}\r".encode()

    def handle(self, raw: bytes) -> Outcome:
        """Accept, re-acknowledge or refuse one message; never raises for bad input."""
        message: Message | None = None
        try:
            text, codec = decode(raw)
            message = parse_text(text, codec)
            key = store.control_key(message.header(3), message.header(4), message.control_id)
            fingerprint = _fingerprint(message)
            seen = store.find_accepted(self.repo.engine, key)
            if seen is not None:
                return self._duplicate(message, seen, fingerprint)
            mapped = map_message(message, self.catalog)
            entries = self._write(message, mapped, key, fingerprint)
        except Hl7Rejected as err:
            message = message or _header_only(raw)
            return self._refuse(message, "reject" if err.rejected else "error", list(err.problems))
        except Exception as exc:  # the listener must keep serving: report, do not crash
            log.error("hl7v2 message failed", extra={"fields": {"error": type(exc).__name__}})
            message = message or _header_only(raw)
            where = Location("MSH", 1, 10)
            return self._refuse(
                message, "reject", [problem(INTERNAL_ERROR, where, "internal error; send again")]
            )
        log.info(
            "hl7v2 message accepted",
            extra={"fields": {"control_id": message.control_id, "type": _type(message), "entries": entries}},
        )
        return self._outcome(message, "accept", [], entries=entries)

    # ---- writing ----------------------------------------------------------------------------------
    def _write(self, message: Message, mapped: MappedMessage, key: str, fingerprint: str) -> int:
        entries = len(mapped.bundle["entry"])
        pristine = orjson.dumps(mapped.bundle)  # the transaction rewrites references in place
        for attempt in range(2):
            bundle = orjson.loads(pristine)
            try:
                self._prepare_merges(mapped, bundle)
                process_transaction(
                    self.repo, self.ctx, bundle, also=store.recorder(key, f"hl7v2|{fingerprint}", entries)
                )
                return entries
            except Conflict as exc:
                if store.find_accepted(self.repo.engine, key) is not None:
                    raise Hl7Rejected(
                        [problem(DUPLICATE_KEY, Location("MSH", 1, 10), "sent twice at the same time")]
                    ) from exc
                if attempt == 1:
                    raise Hl7Rejected(
                        [problem(RECORD_LOCKED, None, "a resource was changed concurrently; send again")]
                    ) from exc
            except HealthBrainError as exc:
                raise Hl7Rejected(_problems_of(exc, mapped)) from exc
        raise AssertionError("unreachable")

    def _prepare_merges(self, mapped: MappedMessage, bundle: dict[str, Any]) -> None:
        """`merge` entries: read the stored resource and write it back changed, with If-Match."""
        for index, origin in enumerate(mapped.entries):
            if origin.write != "merge" or origin.query is None:
                continue
            entry = bundle["entry"][index]
            rt = entry["resource"]["resourceType"]
            with self.repo.engine.connect() as conn:
                ids = self.repo.match_ids(conn, self.ctx, rt, origin.query)
            if len(ids) > 1:
                raise Hl7Rejected(
                    [problem(DUPLICATE_KEY, origin.location, f"the identifier matches several {rt}")]
                )
            if not ids:
                continue
            current = self.repo.read(self.ctx, rt, ids[0])
            merged = merge_resource(current.resource or {}, entry["resource"])
            entry["resource"] = {**merged, "id": ids[0]}
            entry["request"] = {
                "method": "PUT",
                "url": f"{rt}/{ids[0]}",
                "ifMatch": f'W/"{current.version_id}"',
            }

    # ---- acknowledgments ---------------------------------------------------------------------------
    def _duplicate(self, message: Message, seen: str, fingerprint: str) -> Outcome:
        if seen.endswith(fingerprint):
            note = Hl7Problem("0", Location("MSH", 1, 10), "already accepted; not processed again", "I")
            return self._outcome(message, "accept", [note], duplicate=True)
        clash = problem(
            DUPLICATE_KEY, Location("MSH", 1, 10), "this control id was used for a different message"
        )
        return self._refuse(message, "error", [clash])

    def _refuse(self, message: Message | None, outcome: str, problems: list[Hl7Problem]) -> Outcome:
        log.warning(
            "hl7v2 message refused",
            extra={
                "fields": {
                    "control_id": message.control_id if message else "",
                    "codes": [p.code for p in problems],
                    "where": [str(p.location) for p in problems if p.location is not None][:10],
                }
            },
        )
        return self._outcome(message, outcome, problems)

    def _outcome(
        self,
        message: Message | None,
        outcome: str,
        problems: list[Hl7Problem],
        *,
        entries: int = 0,
        duplicate: bool = False,
    ) -> Outcome:
        code = ack_code(message, outcome)
        ack: bytes | None = None
        if ack_wanted(message, outcome):
            text = build_ack(
                message,
                code,
                problems,
                control_id=uuid.uuid4().hex[:20],
                now=self._now(),
                application=self.application,
                facility=self.facility,
            )
            ack = text.encode(message.codec if message else "utf-8", errors="replace")
        return Outcome(
            code,
            message.control_id if message else "",
            _type(message),
            duplicate,
            entries,
            tuple(problems),
            ack,
        )

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).astimezone()


def _type(message: Message | None) -> str:
    return f"{message.message_type}^{message.trigger_event}" if message else ""


def _fingerprint(message: Message) -> str:
    """A digest of the content, MSH-7 (sent at) left out: a re-send with a new timestamp matches."""
    h = hashlib.sha256()
    for seg in message.segments:
        fields = seg.fields if seg.name != "MSH" else (*seg.fields[:7], "", *seg.fields[8:])
        h.update("\x1f".join(fields).encode("utf-8", errors="replace"))
        h.update(b"\x1e")
    return h.hexdigest()


def _header_only(raw: bytes) -> Message | None:
    """Just the MSH of an unusable message, to address the NAK (None when even that fails)."""
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff\x0b \r\n")
    line = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    try:
        return parse_text(line, "utf-8")
    except Hl7Rejected:
        return None


def _problems_of(exc: HealthBrainError, mapped: MappedMessage) -> list[Hl7Problem]:
    """Repository errors located at the segment each Bundle entry came from."""
    code = DATA_TYPE_ERROR if isinstance(exc, Unprocessable) else INTERNAL_ERROR
    if isinstance(exc, PreconditionFailed):
        code = DUPLICATE_KEY
    out = []
    for issue in exc.issues[:20]:
        m = _ENTRY.match(issue.expression or "")
        if m and int(m.group(1)) < len(mapped.entries):
            origin = mapped.entries[int(m.group(1))]
            element = m.group(2).removeprefix("resource").lstrip(".")
            text = f"{origin.rule}{'.' + element if element else ''}: {issue.diagnostics}"
            out.append(problem(code, origin.location, text))
        else:
            out.append(problem(code, None, issue.diagnostics))
    return out or [problem(code, None, exc.message)]


def merge_resource(current: dict[str, Any], mapped: dict[str, Any]) -> dict[str, Any]:
    """The stored resource with the mapped elements put in: lists of identifiers and links are
    extended (no duplicates), other elements replaced; meta and id are the stored ones."""
    out = {k: v for k, v in current.items() if k != "meta"}
    for key, value in mapped.items():
        if key in MERGE_LISTS and isinstance(value, list) and isinstance(out.get(key), list):
            have = {orjson.dumps(x, option=orjson.OPT_SORT_KEYS) for x in out[key]}
            out[key] = [
                *out[key],
                *(x for x in value if orjson.dumps(x, option=orjson.OPT_SORT_KEYS) not in have),
            ]
        else:
            out[key] = value
    return out
