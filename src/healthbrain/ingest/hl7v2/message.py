"""The parsed HL7 v2 message: delimiters, segments, field access and escape-sequence decoding.

See: HL7 v2.8 chapter 2, section 2.5 (message construction rules) and 2.7 (escape sequences).
"""

from __future__ import annotations

from dataclasses import dataclass

# A repetition as components, each split into subcomponents; all text is unescaped.
Components = tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The separators declared in MSH-1 and MSH-2."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""  # v2.7+: the fifth encoding character, usually '#'


@dataclass(frozen=True, slots=True)
class Location:
    """Where in the message something is: segment id, its occurrence (1-based) and positions."""

    segment: str
    sequence: int = 1
    field: int | None = None
    repetition: int | None = None
    component: int | None = None
    subcomponent: int | None = None

    def __str__(self) -> str:
        out = self.segment if self.sequence == 1 else f"{self.segment}[{self.sequence}]"
        if self.field is not None:
            out += f"-{self.field}"
            if self.repetition is not None and self.repetition > 1:
                out += f"({self.repetition})"
            if self.component is not None:
                out += f".{self.component}"
                if self.subcomponent is not None:
                    out += f".{self.subcomponent}"
        return out


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment: `fields[n]` is field n as sent (escaped); for MSH, fields[1] is MSH-1."""

    name: str
    fields: tuple[str, ...]
    position: int  # 0-based place in the message
    sequence: int  # 1-based occurrence of this segment id in the message

    def raw(self, n: int) -> str:
        """Field n as sent (escaped, with its repetitions and components), '' when absent."""
        return self.fields[n] if 0 < n < len(self.fields) else ""

    def location(self, field: int | None = None) -> Location:
        return Location(self.name, self.sequence, field)


@dataclass(frozen=True, slots=True)
class Message:
    """A parsed message; `codec` is the Python codec its bytes were decoded with."""

    segments: tuple[Segment, ...]
    delimiters: Delimiters
    codec: str

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    def header(self, field: int, component: int = 1) -> str:
        """An MSH value, unescaped and stripped: `header(9, 2)` is the trigger event."""
        return value(self, self.msh, field, 1, component)

    @property
    def message_type(self) -> str:
        return self.header(9, 1).upper()

    @property
    def trigger_event(self) -> str:
        return self.header(9, 2).upper()

    @property
    def control_id(self) -> str:
        return self.header(10)

    @property
    def version(self) -> str:
        return self.header(12)

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)


def repetitions(msg: Message, seg: Segment, field: int) -> list[str]:
    """The raw repetitions of a field (MSH-1 and MSH-2 are never split)."""
    raw = seg.raw(field)
    if not raw:
        return []
    if seg.name == "MSH" and field <= 2:
        return [raw]
    return raw.split(msg.delimiters.repetition)


def components(msg: Message, raw_repetition: str) -> Components:
    """Split one raw repetition into unescaped components and subcomponents."""
    d = msg.delimiters
    comps = raw_repetition.split(d.component)
    if d.escape not in raw_repetition:
        if d.subcomponent not in raw_repetition:
            return tuple([(c,) for c in comps])
        return tuple([tuple(c.split(d.subcomponent)) for c in comps])
    return tuple(tuple(unescape(sub, d, msg.codec) for sub in comp.split(d.subcomponent)) for comp in comps)


def value(msg: Message, seg: Segment, field: int, rep: int = 1, comp: int = 1, sub: int = 1) -> str:
    """One primitive value, unescaped and stripped of surrounding blanks; '' when absent."""
    raw = seg.raw(field)
    if not raw:
        return ""
    if seg.name == "MSH" and field <= 2:
        return raw
    d = msg.delimiters
    if rep != 1 or d.repetition in raw:
        reps = raw.split(d.repetition)
        if rep > len(reps):
            return ""
        raw = reps[rep - 1]
    if comp != 1 or d.component in raw:
        parts = raw.split(d.component)
        if comp > len(parts):
            return ""
        raw = parts[comp - 1]
    if sub != 1 or d.subcomponent in raw:
        parts = raw.split(d.subcomponent)
        if sub > len(parts):
            return ""
        raw = parts[sub - 1]
    return unescape(raw, d, msg.codec).strip()


_FORMATTING = {".br": "\n", ".sp": "\n", ".fi": "", ".nf": "", ".ce": "", "H": "", "N": ""}


def unescape(text: str, d: Delimiters, codec: str = "utf-8") -> str:
    """Decode the escape sequences of HL7 v2.8 section 2.7 in one primitive value.

    Delimiter escapes become the delimiter; `\\Xhh..\\` becomes the bytes it names decoded with the
    message's codec; `.br`/`.sp` become line breaks; highlighting, other formatting commands and
    character-set switches (`\\C..\\`, `\\M..\\`) are dropped; an unterminated escape stays as sent.
    """
    esc = d.escape
    if not esc or esc not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != esc:
            out.append(ch)
            i += 1
            continue
        end = text.find(esc, i + 1)
        if end < 0:
            out.append(text[i:])
            break
        out.append(_escape_value(text[i + 1 : end], d, codec, text[i : end + 1]))
        i = end + 1
    return "".join(out)


def _escape_value(code: str, d: Delimiters, codec: str, original: str) -> str:
    simple = {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition, "E": d.escape}
    if code in simple:
        return simple[code]
    if code == "P" and d.truncation:
        return d.truncation
    if code in _FORMATTING:
        return _FORMATTING[code]
    head = code[:1]
    if head == "X":
        try:
            return bytes.fromhex(code[1:]).decode(codec, errors="replace")
        except ValueError:
            return original
    if head in ("C", "M", "Z") or code.startswith((".sp", ".in", ".ti", ".sk")):
        return "\n" if code.startswith(".sp") else ""
    return original
