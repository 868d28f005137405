"""Reviewer decisions fed back into the model (issue 5: "reviewer decisions feed back into the model")."""

from __future__ import annotations

import pytest

from healthbrain.mpi import default_model
from healthbrain.mpi.feedback import MIN_LABELS, apply_feedback, probability_of_levels
from healthbrain.mpi.model import MatchModel


def _top(model: MatchModel) -> list[int]:
    return [len(f.m) - 1 for f in model.fields]


def test_confirmed_matches_reshape_the_m_values_and_fix_them() -> None:
    model = default_model()
    phone = [f.name for f in model.fields].index("phone")
    levels = _top(model)
    levels[phone] = 0  # reviewers keep confirming residents who changed their phone
    decisions = [("match", levels, False)] * MIN_LABELS
    updated = apply_feedback(model, decisions)
    before, after = model.field("phone"), updated.field("phone")
    assert after.m[0] > before.m[0] and after.u == before.u
    assert sum(after.m) == pytest.approx(1.0)
    assert all(f.fixed for f in updated.fields)  # later EM training keeps them
    # fewer labels than MIN_LABELS leave the model as it was
    assert apply_feedback(model, decisions[:-1]).fields == model.fields


def test_rejected_high_scoring_pairs_raise_the_auto_link_threshold_unless_guarded() -> None:
    model = default_model()
    levels = _top(model)
    assert probability_of_levels(model, levels) >= model.auto_link
    rejected = [("no_match", levels, False)] * MIN_LABELS
    assert apply_feedback(model, rejected).auto_link > model.auto_link
    guarded = [("no_match", levels, True)] * MIN_LABELS  # twins etc.: held back anyway
    assert apply_feedback(model, guarded).auto_link == model.auto_link
