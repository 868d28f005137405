"""Reading the scores: per institution and day (optionally per feed), and per institution over a period."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine

from healthbrain.core.errors import InvalidInput
from healthbrain.quality.catalog import RuleSet, default_rules
from healthbrain.quality.model import DayCounts
from healthbrain.quality.scoring import add_counts, score_day
from healthbrain.quality.store import QualityStore

MAX_DAYS = 366


class ScoreBoard:
    """Scores computed from the stored record evaluations, always current."""

    def __init__(self, engine: Engine, rules: RuleSet | None = None) -> None:
        self.engine = engine
        self.rules = rules or default_rules()
        self.store = QualityStore()

    @staticmethod
    def _period(start: date, end: date) -> tuple[str, str]:
        if end < start or (end - start).days > MAX_DAYS:
            raise InvalidInput("'to' must follow 'from' by at most a year", code="quality.bad_period")
        return start.isoformat(), end.isoformat()

    def daily(
        self, start: date, end: date, *, institution: str | None = None, feed: str | None = None,
        by_feed: bool = False,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """One score per institution and day (and feed when `by_feed`)."""
        first, last = self._period(start, end)
        with self.engine.connect() as conn:
            rows = self.store.day_counts(
                conn, first, last, institution=institution, feed=feed, by_feed=by_feed
            )
        out = []
        for inst, day, fd, counts in rows:
            doc = {"institution": inst, "day": day, **score_day(counts, self.rules.weights).to_json()}
            if by_feed:
                doc["feed"] = fd
            out.append(doc)
        return out

    def received(self, day: date, *, institution: str | None = None) -> dict[str, int]:
        """Records received on `day` (latest version, held entries left out) by resource type."""
        with self.engine.connect() as conn:
            return self.store.received(conn, day.isoformat(), institution=institution)

    def by_institution(self, start: date, end: date, *, feed: str | None = None) -> list[dict[str, Any]]:
        """One score per institution over the whole period."""
        first, last = self._period(start, end)
        with self.engine.connect() as conn:
            rows = self.store.day_counts(conn, first, last, feed=feed)
        totals: dict[str, DayCounts] = {}
        for inst, _day, _fd, counts in rows:
            totals[inst] = add_counts(totals.get(inst, DayCounts()), counts)
        return [{"institution": inst, **score_day(c, self.rules.weights).to_json()}
                for inst, c in sorted(totals.items())]  # fmt: skip
