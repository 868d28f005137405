"""Bytes to `Message`: byte-order marks, MSH-18 character sets, CR/LF/CRLF separators, batches.

See: HL7 v2.8 chapter 2, sections 2.5 (segments), 2.10.1 (batches) and table 0211 (character sets).
"""

from __future__ import annotations

import codecs
import re

from healthbrain.ingest.hl7v2.errors import (
    DATA_TYPE_ERROR,
    REQUIRED_FIELD_MISSING,
    SEGMENT_SEQUENCE,
    Hl7Problem,
    Hl7Rejected,
    problem,
)
from healthbrain.ingest.hl7v2.message import Delimiters, Location, Message, Segment

# HL7 table 0211 names (and spellings seen in the field) → Python codecs.
CHARSETS = {
    "ASCII": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
    "UNICODE": "utf-16",
    "UNICODE UTF-16": "utf-16",
    "UNICODE UTF-32": "utf-32",
    "GB 18030-2000": "gb18030",
    "GB18030": "gb18030",
    "GB 18030": "gb18030",
    "GBK": "gb18030",  # GB 18030 is a superset of GBK and GB 2312
    "GB2312": "gb18030",
    "GB 2312": "gb18030",
    "BIG-5": "big5",
    "BIG5": "big5",
    "CNS 11643-1992": "big5",
    "KS X 1001": "euc_kr",
    "ISO IR87": "iso2022_jp",
    "ISO IR14": "shift_jis",
    **{f"8859/{n}": f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 15)},
}

_SEGMENT_NAME = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
MSH_LOCATION = Location("MSH")


def decode(raw: bytes) -> tuple[str, str]:
    """The message text and the codec used: BOM first, then MSH-18, then UTF-8, then GB 18030.

    Raises `Hl7Rejected` (102 at MSH-18) for an unknown character set or bytes that are not valid
    in the declared one.
    """
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            body = raw if codec in ("utf-16", "utf-32") else raw[len(bom) :]
            return _strict(body, codec, declared=True).lstrip("\ufeff"), codec
    declared = _declared_charset(raw)
    if declared:
        named = CHARSETS.get(declared.upper())
        if named is None:
            raise Hl7Rejected([problem(DATA_TYPE_ERROR, Location("MSH", 1, 18), "unknown character set")])
        return _strict(raw, named, declared=True), named
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return _strict(raw, "gb18030", declared=False), "gb18030"


def _strict(raw: bytes, codec: str, *, declared: bool) -> str:
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        what = "the declared character set" if declared else "UTF-8 or GB 18030 (declare MSH-18)"
        raise Hl7Rejected(
            [problem(DATA_TYPE_ERROR, Location("MSH", 1, 18), f"byte {exc.start} is not valid in {what}")]
        ) from exc


def _declared_charset(raw: bytes) -> str:
    """MSH-18 (first repetition) read from the header line before the message is decoded."""
    start = raw.find(b"MSH")
    if start < 0:
        return ""
    end = len(raw)
    for sep in (b"\r", b"\n"):
        pos = raw.find(sep, start)
        if 0 <= pos < end:
            end = pos
    line = raw[start:end]
    try:
        header = line.decode("utf-8")
    except UnicodeDecodeError:
        header = line.decode("gb18030", errors="replace")
    if len(header) < 8:
        return ""
    fields = header.split(header[3])
    # fields[0] is "MSH", fields[1] is MSH-2, so MSH-n is fields[n - 1].
    if len(fields) < 18:
        return ""
    return fields[17].split(header[5] if len(header) > 5 else "~")[0].strip()


def split_segments(text: str) -> list[str]:
    """Segments separated by CR (the standard), LF or CRLF; blank lines and trailing blanks dropped."""
    body = text.strip("\x00\x0b\x1c \t\r\n")
    if "\n" in body:  # same split as on `\r\n|\r|\n`, without a regular expression per character
        body = body.replace("\r\n", "\r").replace("\n", "\r")
    return [line for line in body.split("\r") if line.strip()]


def parse_delimiters(header: str) -> Delimiters:
    """MSH-1 and MSH-2 of an `MSH...` line; raises `Hl7Rejected` when they are unusable."""
    if len(header) < 8 or not header.startswith("MSH"):
        raise Hl7Rejected(
            [problem(SEGMENT_SEQUENCE, MSH_LOCATION, "the message must start with MSH")], reject=True
        )
    field = header[3]
    encoding = header[4:].split(field, 1)[0]
    chars = [field, *encoding[:4]]
    if len(encoding) < 4 or len(set(chars)) != len(chars) or any(c.isalnum() or c.isspace() for c in chars):
        raise Hl7Rejected(
            [problem(DATA_TYPE_ERROR, Location("MSH", 1, 2), "MSH-1/MSH-2 must be five distinct delimiters")],
            reject=True,
        )
    truncation = encoding[4] if len(encoding) > 4 and encoding[4] not in chars else ""
    return Delimiters(field, encoding[0], encoding[1], encoding[2], encoding[3], truncation)


def parse_text(text: str, codec: str = "utf-8") -> Message:
    """Parse one message's text. Raises `Hl7Rejected` with every structural problem found."""
    lines = split_segments(text)
    if not lines:
        raise Hl7Rejected([problem(SEGMENT_SEQUENCE, MSH_LOCATION, "the message is empty")], reject=True)
    delimiters = parse_delimiters(lines[0])
    segments: list[Segment] = []
    counts: dict[str, int] = {}
    problems: list[Hl7Problem] = []
    sep, is_name = delimiters.field, _SEGMENT_NAME.match
    for position, line in enumerate(lines):
        parts = line.split(sep)
        name = parts[0].strip().upper()
        if not is_name(name):
            problems.append(
                problem(SEGMENT_SEQUENCE, Location(f"#{position + 1}"), "not a segment (bad segment id)")
            )
            continue
        if name == "MSH" and position > 0:
            problems.append(
                problem(SEGMENT_SEQUENCE, Location("MSH", 2), "a second MSH: send one message per frame")
            )
            continue
        sequence = counts[name] = counts.get(name, 0) + 1
        if name == "MSH":
            fields = ("MSH", sep, *parts[1:])
        else:
            parts[0] = name
            fields = tuple(parts)
        segments.append(Segment(name, fields, position, sequence))
    if problems:
        raise Hl7Rejected(problems)
    message = Message(tuple(segments), delimiters, codec)
    _check_header(message)
    return message


def _check_header(message: Message) -> None:
    missing = [
        problem(REQUIRED_FIELD_MISSING, Location("MSH", 1, n), f"MSH-{n} ({what}) is required")
        for n, what in ((9, "message type"), (10, "message control id"), (12, "version id"))
        if not message.header(n)
    ]
    if not message.trigger_event and message.header(9):
        missing.append(
            problem(
                REQUIRED_FIELD_MISSING, Location("MSH", 1, 9, None, 2), "MSH-9.2 (trigger event) is required"
            )
        )
    if missing:
        raise Hl7Rejected(missing)


def parse_message(raw: bytes) -> Message:
    """Decode and parse one message (`Hl7Rejected` lists what is wrong and where)."""
    text, codec = decode(raw)
    return parse_text(text, codec)


def split_batch(raw: bytes) -> list[bytes]:
    """The messages of a batch or file (FHS/BHS ... BTS/FTS); a single message is returned as is.

    Splits on segment boundaries that start with MSH; envelope segments are dropped.
    """
    head = raw.lstrip(b"\xef\xbb\xbf\r\n \t")[:3]
    if head not in (b"FHS", b"BHS"):
        return [raw]
    out: list[list[bytes]] = []
    for line in re.split(rb"\r\n|\r|\n", raw):
        name = line.lstrip(b"\xef\xbb\xbf")[:3]
        if name == b"MSH":
            out.append([line])
        elif name in (b"FHS", b"BHS", b"BTS", b"FTS") or not line.strip():
            continue
        elif out:
            out[-1].append(line)
    return [b"\r".join(lines) + b"\r" for lines in out]
