"""Reviewer decisions fed back into the model: labelled m values and safer thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from healthbrain.mpi.model import FieldParams, MatchModel

# How many EM-estimated pairs one reviewer label is worth against the unlabelled estimate.
LABEL_STRENGTH = 50.0
MIN_LABELS = 5


def probability_of_levels(model: MatchModel, levels: Sequence[int]) -> float:
    """The model's match probability for a pattern of levels (without term-frequency adjustment)."""
    weight = model.prior_weight + sum(
        params.weights[lv] for params, lv in zip(model.fields, levels, strict=False) if lv >= 0
    )
    return float(1.0 / (1.0 + 2.0 ** (-weight)))


def apply_feedback(model: MatchModel, decisions: Sequence[tuple[str, Sequence[int], bool]]) -> MatchModel:
    """A model updated with reviewers' verdicts.

    Args:
        model: the current model.
        decisions: (verdict, levels per field, guarded) of each decided pair; verdict is 'match' or
            'no_match'; guarded pairs were held back by a guard (twins...), whatever their score.

    m values of each field are blended with the level distribution of confirmed matches (and then
    kept fixed by later training). When reviewers keep rejecting unguarded pairs that the model
    scores above the auto-link threshold, the threshold rises to the 80th percentile of their
    probabilities, so that such pairs go to review rather than link unseen.
    """
    matches = [levels for verdict, levels, _ in decisions if verdict == "match" and levels]
    fields = list(model.fields)
    if len(matches) >= MIN_LABELS:
        labels = np.asarray(matches, dtype=np.int64)
        for c, params in enumerate(fields):
            if c >= labels.shape[1]:
                break
            lv = labels[:, c]
            counts = np.bincount(lv[lv >= 0], minlength=len(params.m)).astype(np.float64)
            if counts.sum() == 0:
                continue
            prior = np.asarray(params.m) * LABEL_STRENGTH
            blended = (prior + counts) / (prior.sum() + counts.sum())
            fields[c] = FieldParams(
                params.name, params.labels, tuple(float(x) for x in blended), params.u, True
            )
    updated = replace(model, fields=tuple(fields))
    rejected = [
        probability_of_levels(updated, levels)
        for verdict, levels, guarded in decisions
        if verdict == "no_match" and levels and not guarded
    ]
    above = [p for p in rejected if p >= model.auto_link]
    if len(above) >= MIN_LABELS:
        updated = replace(updated, auto_link=min(float(np.percentile(above, 80)), 0.9999))
    return updated
