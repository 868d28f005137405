"""The simulator's injected outbreak (ground truth) is found by the service, with few false signals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from healthbrain.core.context import system_context
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.simulation import RegionConfig, simulate_region
from healthbrain.storage import tables as st
from healthbrain.surveillance import CONDITION_SUBSCRIBER, SurveillanceService


def _drain(dispatcher: EventDispatcher) -> None:
    """Dispatch until the subscriber's cursor reaches the outbox head (`drain()` stops at the first
    round that delivers nothing, and a round of Patients only delivers nothing to this subscriber)."""
    cursor = st.event_cursor.c
    while True:
        dispatcher.dispatch_once()
        with dispatcher.engine.connect() as conn:
            head = dispatcher.store.outbox_head(conn)
            position = conn.execute(
                select(cursor.position).where(cursor.subscriber == CONDITION_SUBSCRIBER)
            ).scalar_one()
        if position >= head:
            return


def _notifiable(condition: dict[str, object]) -> bool:
    categories = condition.get("category", [])
    assert isinstance(categories, list)
    return any(c.get("code") == "notifiable" for cat in categories for c in cat.get("coding", []))


@pytest.mark.slow
def test_the_injected_influenza_cluster_raises_a_signal_in_its_county(repo: FhirRepository) -> None:
    region = simulate_region(RegionConfig(patients=4000, seed=7))
    resources = list(region.resources())
    reports = [r for r in resources if r["resourceType"] == "Condition" and _notifiable(r)]
    reporters = {r["subject"]["reference"] for r in reports}
    # the surveillance service needs the organisations, the reported patients and the reports
    ctx = system_context()
    for r in resources:
        if r["resourceType"] == "Organization" or (
            r["resourceType"] == "Patient" and f"Patient/{r['id']}" in reporters
        ):
            repo.update(ctx, r["resourceType"], r["id"], r)
    dispatcher = EventDispatcher(repo.engine)
    service = SurveillanceService(repo)
    service.register(dispatcher)
    for r in reports:
        repo.update(ctx, "Condition", r["id"], r)
    _drain(dispatcher)
    (outbreak,) = region.ground_truth.outbreaks
    found, false_alarms, series_days = [], 0, 0
    day = outbreak.start - timedelta(days=14)
    while day <= outbreak.end + timedelta(days=7):
        summary, ids = service.detect(day)
        series_days += summary.series
        for sid in ids:
            s = service.signals.get(sid)
            hit = s["disease"] == "influenza" and s["area"] == outbreak.county and day >= outbreak.start
            found.append(day) if hit else None
            false_alarms += not hit
        day += timedelta(days=1)
    assert found, "the outbreak raised no signal"
    assert found[0] <= outbreak.end
    assert false_alarms / series_days < 0.02
