"""Evaluating every entry of a transaction Bundle: patients first, so that their trusted facts judge
the clinical records that refer to them, and each record attributed to its institution."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from healthbrain.quality.catalog import RuleSet
from healthbrain.quality.codesystems import CodeChecker
from healthbrain.quality.elements import reference_of, subject_reference
from healthbrain.quality.evaluate import evaluate_record, patient_facts
from healthbrain.quality.model import Evaluation, PatientFacts, RecordContext

# References that name the institution responsible for a record, by resource type.
_ORG_ELEMENTS: dict[str, tuple[str, ...]] = {
    "Patient": ("managingOrganization",),
    "Encounter": ("serviceProvider",),
    "DiagnosticReport": ("performer",),
    "Observation": ("performer",),
    "MedicationRequest": ("requester", "performer"),
    "ServiceRequest": ("requester", "performer"),
    "Immunization": ("performer",),
    "Procedure": ("performer",),
}


@dataclass(frozen=True, slots=True)
class EntryVerdict:
    """The evaluation of one Bundle entry and the institution it belongs to (None: not known)."""

    index: int
    resource_type: str
    institution: str | None
    evaluation: Evaluation


def _organization_refs(node: Any) -> list[str]:
    nodes = node if isinstance(node, list) else [node]
    refs = []
    for n in nodes:
        actor = n.get("actor") if isinstance(n, dict) and "actor" in n else n
        ref = reference_of(actor)
        if ref is not None and ref.startswith("Organization/"):
            refs.append(ref.split("/", 1)[1])
    return refs


def institution_of(resource: dict[str, Any], encounter_provider: Callable[[str], str | None]) -> str | None:
    """The Organization id of the institution a record comes from.

    Patients: the managing organisation; encounters: the service provider; other records: their
    encounter's provider, else an organisation among their performers or requesters.
    """
    rt = str(resource.get("resourceType"))
    if rt == "Organization":
        return str(resource.get("id")) if resource.get("id") else None
    if rt not in ("Patient", "Encounter"):
        enc = reference_of(resource.get("encounter")) or reference_of(resource.get("context"))
        if enc is not None:
            provider = encounter_provider(enc)
            if provider is not None:
                return provider
    for element in _ORG_ELEMENTS.get(rt, ()):
        orgs = _organization_refs(resource.get(element))
        if orgs:
            return orgs[0]
    return None


def entry_aliases(entry: dict[str, Any]) -> list[str]:
    """The strings other entries may use to refer to this entry: its fullUrl and Type/id."""
    aliases = []
    if isinstance(entry.get("fullUrl"), str):
        aliases.append(entry["fullUrl"])
    res = entry.get("resource")
    if isinstance(res, dict) and res.get("id"):
        aliases.append(f"{res.get('resourceType')}/{res['id']}")
    url = (entry.get("request") or {}).get("url")
    if isinstance(url, str) and "?" not in url and url.count("/") == 1:
        aliases.append(url)
    return list(dict.fromkeys(aliases))


def outside_references(entries: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """Patient and Encounter references (literal Type/id) that no entry of the Bundle resolves."""
    inside = {a for e in entries for a in entry_aliases(e)}
    patients, encounters = set(), set()
    for entry in entries:
        res = entry.get("resource")
        if not isinstance(res, dict):
            continue
        subject = subject_reference(res)
        if subject and subject.startswith("Patient/") and subject not in inside:
            patients.add(subject)
        enc = reference_of(res.get("encounter"))
        if enc and enc.startswith("Encounter/") and enc not in inside:
            encounters.add(enc)
    return patients, encounters


def evaluate_entries(
    entries: list[dict[str, Any]],
    rules: RuleSet,
    arrival: datetime,
    *,
    patients: Mapping[str, PatientFacts] | None = None,
    providers: Mapping[str, str] | None = None,
    default_institution: str | None = None,
    checker: CodeChecker | None = None,
) -> list[EntryVerdict]:
    """Evaluate each entry that carries a resource.

    Args:
        entries: the Bundle's entries.
        rules: the compiled rules.
        arrival: when the Bundle reached the platform.
        patients: trusted facts of patients referred to but not in the Bundle.
        providers: service-provider Organization ids of encounters referred to but not in the Bundle.
        default_institution: the sender's organisation, for records that do not name theirs.
        checker: optional content check for code systems the offline checks do not know.
    """
    facts: dict[str, PatientFacts] = dict(patients or {})
    provider: dict[str, str] = dict(providers or {})
    verdicts: dict[int, EntryVerdict] = {}
    order = sorted(range(len(entries)), key=lambda i: _rank(entries[i]))
    for i in order:
        res = entries[i].get("resource")
        if not isinstance(res, dict):
            continue
        rt = str(res.get("resourceType"))
        subject = subject_reference(res) if rt != "Patient" else None
        ctx = RecordContext(arrival, facts.get(subject) if subject else None)
        evaluation = evaluate_record(res, ctx, rules, checker)
        institution = institution_of(res, provider.get) or default_institution
        if rt == "Patient":
            for alias in entry_aliases(entries[i]):
                facts[alias] = patient_facts(res, evaluation, rules)
        if rt == "Encounter" and institution is not None:
            for alias in entry_aliases(entries[i]):
                provider[alias] = institution
        verdicts[i] = EntryVerdict(i, rt, institution, evaluation)
    return [verdicts[i] for i in sorted(verdicts)]


def _rank(entry: dict[str, Any]) -> int:
    rt = (entry.get("resource") or {}).get("resourceType")
    return 0 if rt == "Patient" else 1 if rt == "Encounter" else 2
