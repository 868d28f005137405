"""The region as a map without GeoJSON: the 省-市-县-机构 tree of Organizations, laid out as an ECharts
treemap (area = patients registered, colour = open signals). Pure functions over FHIR Organizations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Place", "area_code", "institutions", "region_tree", "treemap_option"]

ADMIN_LEVEL = "https://healthbrain.dev/fhir/CodeSystem/admin-level"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
AREA_CODE = "https://healthbrain.dev/fhir/sid/area-code"


@dataclass(slots=True)
class Place:
    """A node of the region: an administrative division or an institution."""

    id: str
    name: str
    level: str  # province | city | county | institution | other
    parent: str | None
    children: list[Place] = field(default_factory=list)


def _codes(org: Mapping[str, Any]) -> set[str]:
    return {
        str(c.get("code"))
        for concept in org.get("type") or ()
        for c in (concept.get("coding") or ())
        if isinstance(c, dict)
    }


def _level(org: Mapping[str, Any]) -> str:
    codes = _codes(org)
    for level in ("province", "city", "county"):
        if level in codes:
            return level
    return "institution" if "prov" in codes else "other"


def _parent(org: Mapping[str, Any]) -> str | None:
    ref = (org.get("partOf") or {}).get("reference")
    return str(ref).split("/", 1)[1] if isinstance(ref, str) and ref.startswith("Organization/") else None


def area_code(org: Mapping[str, Any]) -> str | None:
    """The GB/T 2260 code of an administrative Organization (from its identifier, else its id)."""
    for ident in org.get("identifier") or ():
        value = ident.get("value") if isinstance(ident, dict) else None
        if isinstance(value, str) and value.isdigit() and len(value) == 6:
            return value
    oid = str(org.get("id", ""))
    return oid[4:] if oid.startswith("adm-") and oid[4:].isdigit() else None


def region_tree(orgs: Iterable[Mapping[str, Any]]) -> list[Place]:
    """Roots of the hierarchy (normally one province); departments and orphans hang where they point."""
    places = {
        str(o["id"]): Place(str(o["id"]), str(o.get("name") or o["id"]), _level(o), _parent(o))
        for o in orgs
        if o.get("id")
    }
    roots = []
    for place in places.values():
        parent = places.get(place.parent) if place.parent else None
        if parent is None:
            roots.append(place)
        else:
            parent.children.append(place)
    for place in places.values():
        place.children.sort(key=lambda p: (p.level != "institution", p.name))
    return sorted(roots, key=lambda p: p.name)


def institutions(orgs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The healthcare providers among the Organizations (hospitals, clinics, MCH centres)."""
    return [o for o in orgs if _level(o) == "institution"]


def county_of(places: list[Place]) -> dict[str, str]:
    """institution id -> the county Organization id above it."""
    out: dict[str, str] = {}

    def walk(node: Place, county: str | None) -> None:
        here = node.id if node.level == "county" else county
        if node.level == "institution" and here:
            out[node.id] = here
        for child in node.children:
            walk(child, here)

    for root in places:
        walk(root, None)
    return out


def _node(place: Place, values: Mapping[str, float], signals: Mapping[str, int]) -> dict[str, Any] | None:
    kids = [n for c in place.children if c.level != "other" and (n := _node(c, values, signals))]
    if place.level == "institution":
        value = float(values.get(place.id, 0.0)) or 1.0
        return {"name": place.name, "id": place.id, "value": value}
    if not kids:
        return None
    node: dict[str, Any] = {"name": place.name, "id": place.id, "children": kids}
    if place.level == "county" and signals.get(place.id):
        # open signals colour the county: a county with signals is seen at a glance
        node["itemStyle"] = {"borderColor": "#c2410c", "borderWidth": 4}
        node["name"] = f"{place.name} ⚠{signals[place.id]}"
    return node


def treemap_option(
    places: list[Place], values: Mapping[str, float], signals: Mapping[str, int], title: str
) -> dict[str, Any]:
    """An ECharts treemap option of the region (levels: province, city, county, institution)."""
    data = [n for p in places if (n := _node(p, values, signals))]
    return {
        "aria": {"enabled": True, "label": {"description": title}},
        "tooltip": {"formatter": "{b}: {c}"},
        "series": [
            {
                "type": "treemap",
                "name": title,
                "left": 4,
                "right": 4,
                "top": 4,
                "bottom": 32,  # room for the breadcrumb (back up from a county)
                "roam": False,
                "nodeClick": "zoomToNode",
                "leafDepth": 3,
                "breadcrumb": {"show": True},
                "label": {"show": True, "formatter": "{b}"},
                "upperLabel": {"show": True, "height": 22, "color": "#fff"},
                "levels": [
                    {"itemStyle": {"borderColor": "#1e3a5f", "borderWidth": 0, "gapWidth": 2}},
                    {
                        "itemStyle": {"borderColor": "#1e3a5f", "borderWidth": 3, "gapWidth": 2},
                        "upperLabel": {"show": True},
                    },
                    {
                        "itemStyle": {"borderColor": "#2f5d8a", "borderWidth": 2, "gapWidth": 1},
                        "colorSaturation": [0.35, 0.6],
                    },
                    {"itemStyle": {"borderColorSaturation": 0.6, "gapWidth": 1}},
                ],
                "data": data,
            }
        ],
    }
