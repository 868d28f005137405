"""The CapabilityStatement: built from what the server really supports."""

from __future__ import annotations

from typing import Any

from healthbrain.fhir.searchparams import SearchParamRegistry
from healthbrain.fhir.types import R4_RESOURCE_TYPES

INTERACTIONS = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
]
SEARCHABLE_TYPES = {"token", "string", "date", "reference", "quantity", "number", "uri", "composite"}


def capability_statement(
    registry: SearchParamRegistry, base_url: str, version: str, now: str
) -> dict[str, Any]:
    """Every resource type with its interactions and the search parameters this server indexes."""
    resources = []
    for rt in sorted(R4_RESOURCE_TYPES - {"Bundle", "OperationOutcome", "Parameters"}):
        params = [{"name": "_id", "type": "token"}, {"name": "_lastUpdated", "type": "date"}]
        params += [
            {"name": sp.code, "definition": sp.url, "type": sp.type}
            for sp in sorted(registry.for_type(rt), key=lambda s: s.code)
            if sp.type in SEARCHABLE_TYPES and sp.expression
        ]
        entry: dict[str, Any] = {
            "type": rt,
            "interaction": [{"code": c} for c in INTERACTIONS],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalUpdate": True,
            "conditionalDelete": "multiple",
            "referencePolicy": ["literal", "logical", "local"],
            "searchInclude": ["*"],
            "searchRevInclude": ["*"],
            "searchParam": params,
        }
        if rt == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                },
                {
                    "name": "export",
                    "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
                },
            ]
        if rt == "Group":
            entry["operation"] = [
                {
                    "name": "export",
                    "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
                }
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now,
        "publisher": "HealthBrain",
        "kind": "instance",
        "software": {"name": "HealthBrain", "version": version},
        "implementation": {"description": "HealthBrain 健康大脑 FHIR R4 server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "OAuth2 bearer tokens; in development a configured development token."
                },
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
                "operation": [
                    {
                        "name": "export",
                        "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
                    },
                    {
                        "name": "validate",
                        "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
                    },
                ],
            }
        ],
    }
