"""SQL dialects of the scale path: the string-metric functions each engine offers (or we install)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dialect:
    """Names of the string functions; all take (text, text). Jaro-Winkler is a 0-1 similarity."""

    name: str
    jaro_winkler: str
    damerau_levenshtein: str
    levenshtein: str

    def metric(self, metric: str) -> str:
        return {
            "jaro_winkler": self.jaro_winkler,
            "damerau_levenshtein": self.damerau_levenshtein,
            "levenshtein": self.levenshtein,
        }[metric]


DUCKDB = Dialect("duckdb", "jaro_winkler_similarity", "damerau_levenshtein", "levenshtein")
POSTGRES = Dialect("postgresql", "mpi_jaro_winkler", "mpi_damerau_levenshtein", "mpi_levenshtein")
