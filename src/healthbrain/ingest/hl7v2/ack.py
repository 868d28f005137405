"""ACK messages: MSA with the acknowledgment code and ERR segments saying what was wrong and where.

See: HL7 v2.8 chapter 2, sections 2.9 (acknowledgments), 2.14.5 (ERR) and 2.14.8 (MSA).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from healthbrain.ingest.hl7v2.errors import CODE_TEXT, Hl7Problem
from healthbrain.ingest.hl7v2.message import Delimiters, Message

ORIGINAL = {"accept": "AA", "error": "AE", "reject": "AR"}
ENHANCED = {"accept": "CA", "error": "CE", "reject": "CR"}
_OLD_ERR_VERSIONS = ("2.1", "2.2", "2.3", "2.4")


def enhanced_mode(message: Message | None) -> bool:
    """Enhanced acknowledgment mode: the sender filled MSH-15 (accept acknowledgment type)."""
    return message is not None and bool(message.header(15))


def ack_wanted(message: Message | None, outcome: str) -> bool:
    """Whether MSH-15 asks for a commit acknowledgment of this outcome (original mode: always)."""
    if not enhanced_mode(message):
        return True
    assert message is not None
    kind = message.header(15).upper()
    if kind == "NE":
        return False
    if kind == "ER":
        return outcome != "accept"
    if kind == "SU":
        return outcome == "accept"
    return True  # AL, or anything unrecognised


def ack_code(message: Message | None, outcome: str) -> str:
    """AA/AE/AR in original mode, CA/CE/CR in enhanced mode."""
    return (ENHANCED if enhanced_mode(message) else ORIGINAL)[outcome]


def escape(text: str, d: Delimiters) -> str:
    """Escape delimiter characters of `text` for use inside a field (HL7 v2.8 section 2.7)."""
    out = text.replace(d.escape, f"{d.escape}E{d.escape}")
    for char, code in ((d.field, "F"), (d.component, "S"), (d.subcomponent, "T"), (d.repetition, "R")):
        out = out.replace(char, f"{d.escape}{code}{d.escape}")
    return out.replace("\r", " ").replace("\n", " ")


def _timestamp(now: dt.datetime) -> str:
    return now.strftime("%Y%m%d%H%M%S") + now.strftime("%z")


def _err(problem: Hl7Problem, d: Delimiters, old: bool) -> str:
    c, s = d.component, d.subcomponent
    loc = problem.location
    text = escape(problem.message, d)
    code_text = escape(CODE_TEXT.get(problem.code, "Error"), d)
    positions = [loc.segment, str(loc.sequence), str(loc.field or "")] if loc else ["", "", ""]
    if old:
        # v2.3/2.4 ERR-1 (ELD): segment^sequence^field^code&text&HL70357
        return "ERR" + d.field + c.join([*positions, s.join([problem.code, text, "HL70357"])])
    if loc is not None:
        positions += [str(loc.repetition or ""), str(loc.component or ""), str(loc.subcomponent or "")]
    location = c.join(positions).rstrip(c)
    fields = [
        "ERR",
        "",
        location,
        c.join([problem.code, code_text, "HL70357"]),
        problem.severity,
        "",
        "",
        "",
        text,
    ]
    return d.field.join(fields)


def build_ack(
    message: Message | None,
    code: str,
    problems: Sequence[Hl7Problem],
    *,
    control_id: str,
    now: dt.datetime,
    application: str = "HEALTHBRAIN",
    facility: str = "",
) -> str:
    """The ACK text (segments separated by CR) for `message` (None when it could not be parsed)."""
    d = message.delimiters if message is not None else Delimiters()
    version = (message.version if message is not None else "") or "2.5"
    old = version.startswith(_OLD_ERR_VERSIONS)

    def header(n: int, comp: int | None = None) -> str:
        if message is None:
            return ""
        raw = message.msh.raw(n)
        return raw.split(d.component)[comp - 1] if comp and d.component in raw else raw

    event = escape(message.trigger_event, d) if message is not None else ""
    msh = [
        "MSH",
        d.component + d.repetition + d.escape + d.subcomponent + d.truncation,
        escape(application, d),
        escape(facility, d),
        header(3),
        header(4),
        _timestamp(now),
        "",
        c_join(d, ["ACK", event, "ACK"]),
        escape(control_id, d),
        header(11) or "P",
        header(12) or version,
        "",
        "",
        "",
        "",
        "",
        header(18),
    ]
    first = problems[0].message if problems and problems[0].severity == "E" else ""
    msa = ["MSA", code, header(10)]
    if old and first:
        msa.append(escape(first, d))  # MSA-3 text message (withdrawn after v2.4)
    segments = [d.field.join(msh).rstrip(d.field), d.field.join(msa)]
    segments += [_err(p, d, old) for p in problems]
    return "\r".join(segments) + "\r"


def c_join(d: Delimiters, parts: list[str]) -> str:
    return d.component.join(parts).rstrip(d.component)
