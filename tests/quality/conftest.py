"""Shared fixtures of the data-quality tests: a small simulated region and a way to pick records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from qualitydata import copy

from healthbrain.simulation import Region, RegionConfig, simulate_region


@pytest.fixture(scope="session")
def region() -> Region:
    return simulate_region(RegionConfig(patients=300, seed=5, noise_rate=0.0, duplicate_rate=0.0))


@pytest.fixture(scope="session")
def pick(region: Region) -> Callable[..., dict[str, Any]]:
    """A fresh copy of the first simulated resource of a type matching a predicate."""

    def find(rt: str, where: Callable[[dict[str, Any]], bool] = lambda r: True) -> dict[str, Any]:
        for resources in region.institutions.values():
            for r in resources:
                if r["resourceType"] == rt and where(r):
                    return copy(r)
        raise LookupError(rt)

    return find
