"""CodeSystem operations: $lookup, $validate-code and $subsumes over the index (pure functions).

See: https://hl7.org/fhir/R4/codesystem-operation-lookup.html, codesystem-operation-validate-code.html
and codesystem-operation-subsumes.html.
"""

from __future__ import annotations

from typing import Any

from healthbrain.core.errors import InvalidInput, Issue
from healthbrain.terminology.index import Snapshot
from healthbrain.terminology.model import CodeSystemEntry, Concept, parse_code_system
from healthbrain.terminology.output import (
    designation_part,
    names_match,
    parameters,
    part,
    unknown_code,
    unknown_system,
)
from healthbrain.terminology.params import OpParams, coding_input

LOOKUP_PARAMS = frozenset({"code", "system", "version", "coding", "date", "displayLanguage", "property"})
VALIDATE_CS_PARAMS = frozenset(
    {
        "url",
        "codeSystem",
        "code",
        "version",
        "display",
        "coding",
        "codeableConcept",
        "date",
        "abstract",
        "displayLanguage",
    }
)
SUBSUMES_PARAMS = frozenset({"codeA", "codeB", "system", "version", "codingA", "codingB"})


def _need(message: str, where: str | None = None) -> InvalidInput:
    return InvalidInput(
        message, issues=[Issue("error", "required", message, where)], code="terminology.missing_parameter"
    )


def _property_value(value: Any, key: str) -> dict[str, Any]:
    return {key: value}


def _concept_properties(cs: CodeSystemEntry, concept: Concept, wanted: set[str]) -> list[dict[str, Any]]:
    props: list[dict[str, Any]] = []

    def add(code: str, key: str, value: Any) -> None:
        if not wanted or code in wanted:
            props.append(
                {"name": "property", "part": [part("code", "valueCode", code), {"name": "value", key: value}]}
            )

    for parent in concept.parents:
        add("parent", "valueCode", parent)
    for child in cs.children.get(concept.code, ()):
        add("child", "valueCode", child)
    add("inactive", "valueBoolean", concept.inactive)
    if concept.abstract:
        add("notSelectable", "valueBoolean", True)
    for p in concept.properties:
        if p.code not in ("parent", "child", "inactive", "notSelectable"):
            add(p.code, p.key, p.value)
    if concept.definition and (not wanted or "definition" in wanted):
        props.append(
            {
                "name": "property",
                "part": [
                    part("code", "valueCode", "definition"),
                    part("value", "valueString", concept.definition),
                ],
            }
        )
    return props


def lookup(snapshot: Snapshot, params: OpParams) -> dict[str, Any]:
    """$lookup: name, version, display, designations and properties of one code."""
    codings = coding_input(params)
    if len(codings) != 1:
        raise _need("$lookup needs exactly one of code+system or coding", "code")
    given, where = codings[0]
    system = given.get("system")
    if not system:
        raise _need("$lookup needs the system of the code", "system")
    cs = snapshot.code_system(system, given.get("version"))
    if cs is None:
        raise unknown_system(system, "system" if where == "code" else where)
    concept = cs.get(given["code"])
    if concept is None:
        raise unknown_code(system, given["code"], where)
    language = params.text("displayLanguage")
    out = [
        part("name", "valueString", cs.name or cs.title or cs.url),
        part("version", "valueString", cs.version) if cs.version else {},
        part("display", "valueString", concept.display_in(language) or concept.code),
    ]
    out += [designation_part(d) for d in concept.designations]
    out += _concept_properties(cs, concept, set(params.texts("property")))
    return parameters(*out)


def _inline_code_system(params: OpParams) -> CodeSystemEntry | None:
    given = params.complex("codeSystem")
    if given is None:
        return None
    resource, _ = given
    return parse_code_system(resource)


def validate_code(snapshot: Snapshot, params: OpParams, cs: CodeSystemEntry | None = None) -> dict[str, Any]:
    """CodeSystem/$validate-code: is the code in the code system (and is its display right)?"""
    cs = cs or _inline_code_system(params)
    url = params.text("url")
    if cs is None and url:
        cs = snapshot.code_system(url, params.text("version"))
        if cs is None:
            raise unknown_system(url, "url")
    codings = coding_input(params, system_name="url")
    if not codings:
        raise _need("$validate-code needs code, coding or codeableConcept", "code")
    language = params.text("displayLanguage")
    allow_abstract = params.flag("abstract", True)
    messages: list[str] = []
    for given, _where in codings:
        system = given.get("system") or (cs.url if cs else None)
        target = (
            cs
            if cs is not None and system == cs.url
            else snapshot.code_system(system or "", given.get("version"))
        )
        if target is None:
            messages.append(f"the code system {system} is not known to this server")
            continue
        ok, message, display = check_concept(target, given, allow_abstract, language)
        if ok:
            return validation_result(True, message, display)
        messages.append(message or "")
    return validation_result(False, "; ".join(m for m in messages if m))


def check_concept(
    cs: CodeSystemEntry, given: dict[str, Any], allow_abstract: bool, language: str | None
) -> tuple[bool, str | None, str | None]:
    """(valid?, message, preferred display) of one coding against its code system."""
    concept = cs.get(str(given["code"]))
    if concept is None:
        return False, f"the code '{given['code']}' is not in the code system {cs.url}", None
    display = concept.display_in(language) or concept.display
    if concept.abstract and not allow_abstract:
        return False, f"the code '{concept.code}' is abstract and cannot be used here", display
    shown = given.get("display")
    if isinstance(shown, str) and shown.strip():
        names = [concept.display, *(d.value for d in concept.designations)]
        if not names_match(shown, names):
            return (
                False,
                f"the display '{shown}' is not a display of the code '{concept.code}' (expected '{display}')",
                display,
            )
    return True, None, display


def validation_result(result: bool, message: str | None = None, display: str | None = None) -> dict[str, Any]:
    return parameters(
        part("result", "valueBoolean", result),
        part("message", "valueString", message) if message else {},
        part("display", "valueString", display) if display else {},
    )


def _subsumes_input(params: OpParams, letter: str) -> dict[str, Any]:
    code = params.text(f"code{letter}")
    if code is not None:
        out: dict[str, Any] = {"code": code}
        if params.text("system"):
            out["system"] = params.text("system")
        return out
    given = params.complex(f"coding{letter}")
    if given is None:
        raise _need(f"$subsumes needs code{letter} or coding{letter}", f"code{letter}")
    return given[0]


def subsumes(snapshot: Snapshot, params: OpParams, cs: CodeSystemEntry | None = None) -> dict[str, Any]:
    """$subsumes: equivalent | subsumes | subsumed-by | not-subsumed for two codes of one system."""
    a, b = _subsumes_input(params, "A"), _subsumes_input(params, "B")
    system = (cs.url if cs else None) or a.get("system") or b.get("system")
    if not system:
        raise _need("$subsumes needs the system of the codes", "system")
    if (a.get("system") or system) != (b.get("system") or system):
        raise InvalidInput("$subsumes compares codes of one system", code="terminology.systems_differ")
    cs = cs or snapshot.code_system(system, params.text("version"))
    if cs is None:
        raise unknown_system(system)
    ca, cb = cs.get(str(a.get("code"))), cs.get(str(b.get("code")))
    if ca is None:
        raise unknown_code(system, str(a.get("code")), "codeA")
    if cb is None:
        raise unknown_code(system, str(b.get("code")), "codeB")
    if ca.code == cb.code:
        outcome = "equivalent"
    elif ca.code in cs.ancestors(cb.code):
        outcome = "subsumes"
    elif cb.code in cs.ancestors(ca.code):
        outcome = "subsumed-by"
    else:
        outcome = "not-subsumed"
    return parameters(part("outcome", "valueCode", outcome))
