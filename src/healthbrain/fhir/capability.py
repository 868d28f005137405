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


# Operations a server route may implement, by (type, name): the standard definitions' canonical URLs.
KNOWN_OPERATIONS = {
    ("Patient", "match"): "http://hl7.org/fhir/OperationDefinition/Patient-match",
    ("CodeSystem", "lookup"): "http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup",
    ("CodeSystem", "validate-code"): "http://hl7.org/fhir/OperationDefinition/CodeSystem-validate-code",
    ("CodeSystem", "subsumes"): "http://hl7.org/fhir/OperationDefinition/CodeSystem-subsumes",
    ("ValueSet", "expand"): "http://hl7.org/fhir/OperationDefinition/ValueSet-expand",
    ("ValueSet", "validate-code"): "http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code",
    ("ConceptMap", "translate"): "http://hl7.org/fhir/OperationDefinition/ConceptMap-translate",
}


def capability_statement(
    registry: SearchParamRegistry,
    base_url: str,
    version: str,
    now: str,
    *,
    routed_operations: frozenset[tuple[str, str]] = frozenset(),
    oauth: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Every resource type with its interactions and the search parameters this server indexes.

    `routed_operations` are the (type, operation) pairs the running server has routes for, so the
    statement lists exactly what is installed; `oauth` the token and revocation endpoints.
    """
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
        for (op_type, name), definition in sorted(KNOWN_OPERATIONS.items()):
            if op_type == rt and (op_type, name) in routed_operations:
                entry.setdefault("operation", []).append({"name": name, "definition": definition})
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
                "security": _security(oauth),
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


def _security(oauth: dict[str, str] | None) -> dict[str, Any]:
    """SMART on FHIR security: the OAuth endpoints as the oauth-uris extension."""
    # See: https://hl7.org/fhir/smart-app-launch/1.0.0/conformance/index.html
    security: dict[str, Any] = {
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ]
            }
        ],
        "description": "OAuth 2.0 bearer tokens (EdDSA JWT): password + TOTP for people, client "
        "credentials for institution systems; SMART scopes. Development mode also accepts the "
        "configured development token.",
    }
    if oauth:
        security["extension"] = [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [{"url": k, "valueUri": v} for k, v in oauth.items()],
            }
        ]
    return security
