"""Reading FHIR JSON for the checks: element paths, partial dates as intervals, codings and quantities."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

# Dates and date-times without a zone are the platform's local time: China Standard Time.
LOCAL_ZONE = timezone(timedelta(hours=8))
_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?(?P<z>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass(frozen=True, slots=True)
class Moment:
    """A FHIR date, dateTime or instant as the interval it denotes: `2025` is the whole year."""

    start: datetime
    end: datetime  # exclusive

    def before(self, other: Moment) -> bool:
        """Certainly earlier: the whole of this interval ends before the other starts."""
        return self.end <= other.start


def _zone(text: str | None) -> timezone:
    if text is None:
        return LOCAL_ZONE
    if text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


@lru_cache(maxsize=65536)
def parse_moment(value: str) -> Moment | None:
    """The interval of a FHIR date/dateTime/instant string; None when it is not one."""
    m = _DATE_RE.match(value)
    if m is None:
        return None
    try:
        year = int(m["y"])
        if m["m"] is None:
            start = datetime(year, 1, 1, tzinfo=LOCAL_ZONE)
            return Moment(start, start.replace(year=year + 1))
        month = int(m["m"])
        if m["d"] is None:
            start = datetime(year, month, 1, tzinfo=LOCAL_ZONE)
            nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=LOCAL_ZONE)
            return Moment(start, nxt)
        day = int(m["d"])
        if m["H"] is None:
            start = datetime(year, month, day, tzinfo=LOCAL_ZONE)
            return Moment(start, start + timedelta(days=1))
        second = int(m["S"] or 0)
        start = datetime(year, month, day, int(m["H"]), int(m["M"]), second, tzinfo=_zone(m["z"]))
        return Moment(start, start + timedelta(seconds=1))
    except ValueError:
        return None


def local_day(ts: float) -> str:
    """The platform-local (China Standard Time) ISO date of an epoch timestamp."""
    return datetime.fromtimestamp(ts, LOCAL_ZONE).date().isoformat()


def as_date(moment: Moment) -> date:
    return moment.start.astimezone(LOCAL_ZONE).date()


def _filtered(items: list[Any], cond: str | None) -> list[Any]:
    if cond is None:
        return items
    key, _, want = cond.partition("=")
    return [i for i in items if isinstance(i, dict) and str(i.get(key)) == want]


def _step(node: Any, segment: str) -> list[Any]:
    name, cond = segment, None
    if segment.endswith("]") and "[" in segment and not segment.endswith("[x]"):
        name, cond = segment[:-1].split("[", 1)
    if not isinstance(node, dict):
        return []
    if name.endswith("[x]"):
        stem = name[:-3]
        values = [v for k, v in node.items() if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper()]
    else:
        values = [node[name]] if name in node else []
    out: list[Any] = []
    for value in values:
        out.extend(_filtered(value if isinstance(value, list) else [value], cond))
    return out


_SEGMENT_RE = re.compile(r"[^.\[]+(?:\[[^\]]*\])?")


@lru_cache(maxsize=1024)
def segments(path: str) -> tuple[str, ...]:
    """`identifier[system=urn:oid:2.16.156.10011.1.1].value` -> its steps (dots inside [] kept)."""
    return tuple(_SEGMENT_RE.findall(path))


def values_at(resource: dict[str, Any], path: str) -> list[Any]:
    """Values at a dotted path (`name[x]` choice, `a[key=value]` filter); `a|b` gives the first
    alternative that has values."""
    for alternative in path.split("|"):
        nodes: list[Any] = [resource]
        for segment in segments(alternative.strip()):
            nodes = [v for node in nodes for v in _step(node, segment)]
            if not nodes:
                break
        present = [n for n in nodes if n not in (None, "", [], {})]
        if present:
            return present
    return []


def time_values(resource: dict[str, Any], path: str) -> Iterator[tuple[str, str]]:
    """(location, text) of every date-like string at `path`; Period values give start and end."""
    for alternative in path.split("|"):
        *parents, last = segments(alternative.strip())
        nodes: list[Any] = [resource]
        for segment in parents:
            nodes = [v for node in nodes for v in _step(node, segment)]
        for node in nodes:
            if not isinstance(node, dict):
                continue
            keys = [last] if not last.endswith("[x]") else [
                k for k in node if k.startswith(last[:-3]) and k[len(last) - 3 : len(last) - 2].isupper()
            ]  # fmt: skip
            for key in keys:
                value = node.get(key)
                where = ".".join([*parents, key])
                if isinstance(value, str):
                    yield where, value
                elif isinstance(value, dict):  # Period
                    for part in ("start", "end"):
                        if isinstance(value.get(part), str):
                            yield f"{where}.{part}", value[part]


def first_moment(resource: dict[str, Any], paths: tuple[str, ...]) -> Moment | None:
    """The first parsable time at the paths, in order of preference (a Period's start)."""
    for path in paths:
        for _, text in time_values(resource, path):
            moment = parse_moment(text)
            if moment is not None:
                return moment
    return None


def codings(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, Coding) of every coding anywhere in the resource (contained resources excluded)."""
    if isinstance(node, dict):
        coding = node.get("coding")
        if isinstance(coding, list):
            for i, c in enumerate(coding):
                if isinstance(c, dict) and isinstance(c.get("code"), str):
                    yield f"{where}.coding[{i}]", c
        for key, value in node.items():
            if key not in ("contained", "coding") and isinstance(value, dict | list):
                yield from codings(value, f"{where}.{key}" if where else key)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from codings(item, f"{where}[{i}]")


def code_of(concept: Any, system: str) -> str | None:
    """The code of `system` in a CodeableConcept."""
    if isinstance(concept, dict):
        for c in concept.get("coding") or ():
            if isinstance(c, dict) and c.get("system") == system and isinstance(c.get("code"), str):
                return str(c["code"])
    return None


def reference_of(node: Any) -> str | None:
    if isinstance(node, dict) and isinstance(node.get("reference"), str):
        return str(node["reference"])
    return None


def subject_reference(resource: dict[str, Any]) -> str | None:
    """The patient a clinical record is about (`subject` or `patient`)."""
    return reference_of(resource.get("subject")) or reference_of(resource.get("patient"))
