"""Terminology service: CodeSystem/ValueSet/ConceptMap operations ($lookup, $validate-code, $expand,
$translate, $subsumes) over an index of the stored resources, shipped content (ICD-10, the region's
codes, institutions' local maps) and the review queue of unmapped local codes.
"""

from healthbrain.terminology.codesystem_ops import LOOKUP_PARAMS, SUBSUMES_PARAMS, VALIDATE_CS_PARAMS
from healthbrain.terminology.conceptmap_ops import TRANSLATE_PARAMS, Match, map_code
from healthbrain.terminology.content import (
    ICD10,
    LOINC,
    DiagnosisCode,
    DrugCode,
    LabCode,
    RegionCodes,
    icd10_code_system,
    region_content,
)
from healthbrain.terminology.index import TerminologyIndex
from healthbrain.terminology.local_maps import (
    LocalTable,
    institution_of,
    is_local_system,
    load_local_table,
    local_resources,
    local_system,
    parse_local_table,
    shipped_local_tables,
)
from healthbrain.terminology.localcodes import CODED_ELEMENTS, enrich
from healthbrain.terminology.output import ExpansionTooLarge
from healthbrain.terminology.params import OpParams, from_parameters, from_query
from healthbrain.terminology.review import Resolution, ResolveOutcome, apply_to_stored, dismiss, resolve
from healthbrain.terminology.service import LoadSummary, TerminologyService, load_content
from healthbrain.terminology.store import STATUSES, ReviewItem, ReviewStore, Sighting
from healthbrain.terminology.valueset_ops import EXPAND_PARAMS, VALIDATE_VS_PARAMS

__all__ = [
    "CODED_ELEMENTS",
    "EXPAND_PARAMS",
    "ICD10",
    "LOINC",
    "LOOKUP_PARAMS",
    "STATUSES",
    "SUBSUMES_PARAMS",
    "TRANSLATE_PARAMS",
    "VALIDATE_CS_PARAMS",
    "VALIDATE_VS_PARAMS",
    "DiagnosisCode",
    "DrugCode",
    "ExpansionTooLarge",
    "LabCode",
    "LoadSummary",
    "LocalTable",
    "Match",
    "OpParams",
    "RegionCodes",
    "Resolution",
    "ResolveOutcome",
    "ReviewItem",
    "ReviewStore",
    "Sighting",
    "TerminologyIndex",
    "TerminologyService",
    "apply_to_stored",
    "dismiss",
    "enrich",
    "from_parameters",
    "from_query",
    "icd10_code_system",
    "institution_of",
    "is_local_system",
    "load_content",
    "load_local_table",
    "local_resources",
    "local_system",
    "map_code",
    "parse_local_table",
    "region_content",
    "resolve",
    "shipped_local_tables",
]
