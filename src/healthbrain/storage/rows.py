"""Search index rows: the plain shapes that the FHIR indexer produces and the SQL store writes.

Rows are tuples (not dataclasses) because millions of them are built during ingest.
Dates are epoch seconds (UTC) as half-open ranges [low, high); numbers and quantities are ranges
[low, high] (equal for a single value).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# (param, system, code)
TokenRow = tuple[str, str | None, str | None]
# (param, normalised, exact)
StringRow = tuple[str, str, str]
# (param, low, high)   epoch seconds, half-open
DateRow = tuple[str, float, float]
# (param, target_type, target_id, url)   url holds canonical/absolute references
ReferenceRow = tuple[str, str | None, str | None, str | None]
# (param, low, high, system, code)   numbers leave system and code None
QuantityRow = tuple[str, float, float, str | None, str | None]
# (param, uri)
UriRow = tuple[str, str]
# (param, c1_system, c1_code, c2_system, c2_code, c2_low, c2_high, c2_string)
CompositeRow = tuple[
    str, str | None, str | None, str | None, str | None, float | None, float | None, str | None
]


@dataclass(slots=True)
class IndexRows:
    """Every search index row of one resource version."""

    tokens: list[TokenRow] = field(default_factory=list)
    strings: list[StringRow] = field(default_factory=list)
    dates: list[DateRow] = field(default_factory=list)
    references: list[ReferenceRow] = field(default_factory=list)
    quantities: list[QuantityRow] = field(default_factory=list)
    uris: list[UriRow] = field(default_factory=list)
    composites: list[CompositeRow] = field(default_factory=list)

    def count(self) -> int:
        return (
            len(self.tokens)
            + len(self.strings)
            + len(self.dates)
            + len(self.references)
            + len(self.quantities)
            + len(self.uris)
            + len(self.composites)
        )
