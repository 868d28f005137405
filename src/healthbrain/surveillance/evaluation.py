"""Scoring signals against known outbreaks (the simulator's ground truth), as CIDARS was evaluated:
sensitivity (outbreaks with a signal in time), specificity (tested disease × county × days outside
outbreaks without a signal) and the delay from an outbreak's start to its first signal. Pure."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True, slots=True)
class OutbreakTruth:
    """An outbreak that really happened: disease key, county, first and last day of onset, size."""

    name: str
    disease: str
    county: str
    start: date
    end: date
    cases: int


@dataclass(frozen=True, slots=True)
class SignalHit:
    """A signal as the evaluation sees it: disease, the counties it points at, day and method."""

    disease: str
    areas: tuple[str, ...]
    day: date
    method: str


@dataclass(frozen=True, slots=True)
class OutbreakResult:
    """One outbreak's detection: its first true signal, the delay in days, and how many signals."""

    outbreak: OutbreakTruth
    first_signal: date | None
    delay_days: int | None
    signals: int
    methods: tuple[str, ...]

    @property
    def detected(self) -> bool:
        return self.first_signal is not None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Sensitivity, specificity, delays and the counts behind them."""

    outbreaks: tuple[OutbreakResult, ...]
    sensitivity: float | None
    specificity: float | None
    negative_days: int
    false_days: int
    median_delay: float | None
    mean_delay: float | None
    true_signals: int
    false_signals: int


def _covers(signal: SignalHit, outbreak: OutbreakTruth, grace: int) -> bool:
    return (
        signal.disease == outbreak.disease
        and outbreak.county in signal.areas
        and outbreak.start <= signal.day <= outbreak.end + timedelta(days=grace)
    )


def _result(outbreak: OutbreakTruth, signals: list[SignalHit], grace: int) -> OutbreakResult:
    hits = sorted((s for s in signals if _covers(s, outbreak, grace)), key=lambda s: s.day)
    if not hits:
        return OutbreakResult(outbreak, None, None, 0, ())
    first = hits[0].day
    methods = tuple(sorted({s.method for s in hits if s.day == first}))
    return OutbreakResult(outbreak, first, (first - outbreak.start).days, len(hits), methods)


def evaluate_signals(
    truth: Iterable[OutbreakTruth],
    signals: Iterable[SignalHit],
    tested: Iterable[tuple[str, str, date]],
    grace_days: int = 7,
) -> Evaluation:
    """Score signals against the outbreaks that happened.

    Args:
        truth: the outbreaks.
        signals: every signal raised over the evaluated period.
        tested: the (disease, county, day) series-days the system tested: the denominator of
            specificity, so that counties and diseases never seen do not inflate it.
        grace_days: a signal up to this many days after an outbreak's last onset still detects it
            (reports arrive late), and such days are not counted as negatives.

    Returns:
        Per-outbreak results; sensitivity = detected / outbreaks; specificity = 1 - tested days
        outside any outbreak with a signal / tested days outside any outbreak.
    """
    outbreaks = list(truth)
    hits = list(signals)
    results = tuple(_result(o, hits, grace_days) for o in outbreaks)
    inside = {
        (o.disease, o.county, o.start + timedelta(days=d))
        for o in outbreaks
        for d in range((o.end - o.start).days + grace_days + 1)
    }
    flagged = {(s.disease, a, s.day) for s in hits for a in s.areas}
    negatives = {t for t in tested if t not in inside}
    false_days = len(negatives & flagged)
    true_signals = sum(1 for s in hits if any(_covers(s, o, grace_days) for o in outbreaks))
    delays = [r.delay_days for r in results if r.delay_days is not None]
    return Evaluation(
        outbreaks=results,
        sensitivity=sum(r.detected for r in results) / len(results) if results else None,
        specificity=1.0 - false_days / len(negatives) if negatives else None,
        negative_days=len(negatives),
        false_days=false_days,
        median_delay=float(statistics.median(delays)) if delays else None,
        mean_delay=float(statistics.fmean(delays)) if delays else None,
        true_signals=true_signals,
        false_signals=len(hits) - true_signals,
    )
