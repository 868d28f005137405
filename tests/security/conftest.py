"""A simulated region stored once per backend, with the security services wired into the repository."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.core.settings import SecuritySettings
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest import ingest_path
from healthbrain.security import SecurityServices
from healthbrain.simulation import RegionConfig, write_region
from healthbrain.storage.migrate import upgrade_database

from pgsupport import PG_AVAILABLE, database_url, drop_database
from regionkit import Region

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _two_hospitals(out: Path) -> tuple[str, str]:
    """The two county people's hospitals (人民医院) with the most patients in the simulated region."""
    counts: Counter[str] = Counter()
    for file in sorted(out.glob("10-*.json")):
        for entry in orjson.loads(file.read_bytes())["entry"]:
            res = entry["resource"]
            if res["resourceType"] == "Patient":
                org = res["managingOrganization"]["reference"].split("/", 1)[1]
                if org.endswith("-rmyy"):
                    counts[org] += 1
    (a, _), (b, _) = counts.most_common(2)
    return a, b


def _database(kind: str, tmp: Path, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'region.db'}"
    if not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable")
    return database_url(name, fresh=True)


@pytest.fixture(scope="module", params=BACKENDS)
def region(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_name: str
) -> Iterator[Region]:
    tmp = tmp_path_factory.mktemp("region")
    name = f"{pg_name}_region"
    url = _database(request.param, tmp, name)
    engine = create_db_engine(url)
    upgrade_database(engine)
    out = tmp / "sim"
    write_region(RegionConfig(patients=60, seed=7), out)
    settings = SecuritySettings(audit_flush_seconds=0.05, audit_checkpoint_every=50)
    security = SecurityServices.build(engine, settings)
    # loaded as the CLI loads: identifiers sealed at rest, sensitive data labelled
    loader = FhirRepository(engine, validate=False, labeler=security.labeler, protector=security.protector)
    summary = ingest_path(loader, system_context(), out)
    assert not summary.errors
    repo = FhirRepository(engine, **security.repository_options(), validate=False)
    a, b = _two_hospitals(out)
    yield Region(engine, repo, security, a, b)
    security.audit.stop()
    engine.dispose()
    if request.param == "postgres":
        drop_database(name)
