"""The synthetic region: a seeded, reproducible province of institutions, residents and a year of care.

`write_region` writes it as FHIR R4 transaction Bundles plus a ground-truth file; `simulate_region`
keeps it in memory. Identifier systems and code tables are in `healthbrain.simulation.codes`.
"""

from healthbrain.simulation.codes import ID_CARD_SYSTEM, mrn_system
from healthbrain.simulation.identity import (
    id_card_birth_date,
    id_card_check_char,
    id_card_sex,
    is_valid_id_card,
    make_id_card,
)
from healthbrain.simulation.model import (
    GroundTruth,
    InjectedError,
    Outbreak,
    Person,
    Region,
    RegionConfig,
    RegionSummary,
)
from healthbrain.simulation.simulate import simulate_region
from healthbrain.simulation.writer import GROUND_TRUTH_FILE, REGION_FILE, write_region

__all__ = [
    "GROUND_TRUTH_FILE",
    "ID_CARD_SYSTEM",
    "REGION_FILE",
    "GroundTruth",
    "InjectedError",
    "Outbreak",
    "Person",
    "Region",
    "RegionConfig",
    "RegionSummary",
    "id_card_birth_date",
    "id_card_check_char",
    "id_card_sex",
    "is_valid_id_card",
    "make_id_card",
    "mrn_system",
    "simulate_region",
    "write_region",
]
