"""SQL of the case counts: by key (disease or syndrome), by county and township, by day and ISO week.

Counts are maintained by the case store with every case change (`bump`) and read by detection,
the scan, forecasts and the API. SQLAlchemy Core; one code path for SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, insert, select, update

from healthbrain.core.errors import InvalidInput
from healthbrain.surveillance import tables as t

DAY, WEEK = "day", "week"
COUNTY, TOWNSHIP = "county", "township"
FREQS = (DAY, WEEK)
LEVELS = (COUNTY, TOWNSHIP)


def iso_week(day: date) -> str:
    """The ISO 8601 week of a day, as `2025-W07` (weeks start on Monday; week 1 holds 4 January)."""
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def week_start(week: str) -> date:
    """The Monday of an ISO week written `2025-W07`."""
    try:
        year, number = week.split("-W")
        return date.fromisocalendar(int(year), int(number), 1)
    except ValueError as exc:
        raise InvalidInput("weeks are written like 2025-W07", code="surveillance.bad_week") from exc


def township_area(county: str, township: str) -> str:
    """The area key of a township: its county code and its name."""
    return f"{county}/{township}"


def contributions(area: str, township: str | None, onset: date) -> list[tuple[str, str, str, str]]:
    """The (freq, level, area, period) count rows one case of `area` and `township` adds to."""
    rows = [(DAY, COUNTY, area, onset.isoformat()), (WEEK, COUNTY, area, iso_week(onset))]
    if township:
        place = township_area(area, township)
        rows += [(DAY, TOWNSHIP, place, onset.isoformat()), (WEEK, TOWNSHIP, place, iso_week(onset))]
    return rows


def _row_where() -> Any:
    c = t.count.c
    return and_(c.key == bindparam("k"), c.freq == bindparam("f"), c.level == bindparam("l"),
                c.area == bindparam("a"), c.period == bindparam("p"))  # fmt: skip


# Built once: `bump` runs for every case change, and building statements costs more than running them.
_ADD = update(t.count).where(_row_where()).values(cases=t.count.c.cases + bindparam("d"))
_NEW = insert(t.count).values(
    key=bindparam("k"),
    freq=bindparam("f"),
    level=bindparam("l"),
    area=bindparam("a"),
    period=bindparam("p"),
    cases=bindparam("d"),
)
_DROP = delete(t.count).where(_row_where(), t.count.c.cases <= 0)


def bump(conn: Connection, key: str, rows: Iterable[tuple[str, str, str, str]], delta: int) -> None:
    """Add `delta` cases of `key` to each count row (rows reaching zero are deleted)."""
    for freq, level, area, period in rows:
        params = {"k": key, "f": freq, "l": level, "a": area, "p": period, "d": delta}
        changed = conn.execute(_ADD, params).rowcount
        if not changed and delta > 0:
            conn.execute(_NEW, params)
        elif changed and delta < 0:
            conn.execute(_DROP, {k: v for k, v in params.items() if k != "d"})


def _bounds(freq: str, first: date, last: date) -> tuple[str, str]:
    if freq == DAY:
        return first.isoformat(), last.isoformat()
    return iso_week(first), iso_week(last)


def check_level(level: str, freq: str = DAY) -> None:
    """Reject an unknown level or frequency with a precise error."""
    if level not in LEVELS or freq not in FREQS:
        raise InvalidInput(
            "level must be county or township, freq day or week", code="surveillance.bad_level"
        )


class CountStore:
    """Reads of the count table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def counts(
        self, key: str, area: str | None, first: date, last: date, *, level: str = COUNTY, freq: str = DAY
    ) -> dict[str, int]:
        """Cases per period (ISO date or ISO week -> count) of a key in an area, or summed over every
        area of the level when `area` is None; periods without a case are absent."""
        check_level(level, freq)
        c = t.count.c
        low, high = _bounds(freq, first, last)
        where = [c.key == key, c.freq == freq, c.level == level, c.period >= low, c.period <= high]
        if area is not None:
            where.append(c.area == area)
        query = select(c.period, func.sum(c.cases)).where(*where).group_by(c.period).order_by(c.period)
        with self.engine.connect() as conn:
            return {str(p): int(n) for p, n in conn.execute(query)}

    def totals(self, key: str, first: date, last: date, *, level: str = COUNTY) -> dict[str, int]:
        """Cases of a key per area of a level between two days."""
        check_level(level)
        c = t.count.c
        query = (
            select(c.area, func.sum(c.cases))
            .where(c.key == key, c.freq == DAY, c.level == level, c.period >= first.isoformat(),
                   c.period <= last.isoformat())
            .group_by(c.area)
            .order_by(c.area)
        )  # fmt: skip
        with self.engine.connect() as conn:
            return {str(a): int(n) for a, n in conn.execute(query)}

    def matrix(self, key: str, first: date, last: date) -> list[tuple[str, str, int]]:
        """(county, day, cases) rows of a key between two days, for the space-time scan."""
        c = t.count.c
        query = select(c.area, c.period, c.cases).where(
            c.key == key, c.freq == DAY, c.level == COUNTY, c.period >= first.isoformat(),
            c.period <= last.isoformat(),
        )  # fmt: skip
        with self.engine.connect() as conn:
            return [(str(a), str(p), int(n)) for a, p, n in conn.execute(query)]

    def active_series(self, first: date, last: date) -> list[tuple[str, str]]:
        """(key, county) pairs with at least one case between `first` and `last`."""
        c = t.count.c
        query = (
            select(c.key, c.area)
            .where(
                c.freq == DAY, c.level == COUNTY, c.period >= first.isoformat(), c.period <= last.isoformat()
            )
            .distinct()
        )
        with self.engine.connect() as conn:
            return sorted((str(k), str(a)) for k, a in conn.execute(query))

    def areas(self, level: str = COUNTY) -> list[str]:
        """Every area of a level that ever had a case."""
        check_level(level)
        c = t.count.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.area).where(c.freq == WEEK, c.level == level).distinct()).scalars()
            return sorted(str(a) for a in rows)

    def first_day(self) -> date | None:
        """The earliest day of onset with a case (the start of the known history)."""
        return self._edge(func.min)

    def last_day(self) -> date | None:
        """The latest day of onset with a case."""
        return self._edge(func.max)

    def _edge(self, which: Any) -> date | None:
        c = t.count.c
        query = select(which(c.period)).where(c.freq == DAY, c.level == COUNTY)
        with self.engine.connect() as conn:
            day = conn.execute(query).scalar_one_or_none()
        return date.fromisoformat(day) if day else None

    def weekly_panel(self, key: str, level: str, weeks: list[str]) -> dict[str, list[float]]:
        """Cases per week of `weeks` (zeros where none) for every area of a level with a case then."""
        check_level(level, WEEK)
        c = t.count.c
        position = {w: i for i, w in enumerate(weeks)}
        query = select(c.area, c.period, c.cases).where(
            c.key == key, c.freq == WEEK, c.level == level, c.period >= weeks[0], c.period <= weeks[-1]
        )
        out: dict[str, list[float]] = {}
        with self.engine.connect() as conn:
            for area, period, cases in conn.execute(query):
                if period in position:
                    out.setdefault(str(area), [0.0] * len(weeks))[position[period]] += float(cases)
        return out


def weeks_between(first: date, last: date) -> list[str]:
    """The ISO weeks from `first`'s to `last`'s, in order."""
    monday = first - timedelta(days=first.weekday())
    out = []
    while monday <= last:
        out.append(iso_week(monday))
        monday += timedelta(days=7)
    return out
