"""RecordFrame: prepared records held column-wise (strings, shared-vocabulary codes, numbers) for matching."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from healthbrain.core.errors import InvalidInput

IntArray = NDArray[np.int64]
Codes = NDArray[np.int32]


@dataclass(frozen=True, eq=False)
class RecordFrame:
    """Records to match, column-wise.

    Attributes:
        ids: record identifiers (for a FHIR Patient, `Patient/<id>`).
        source: integer code of the data set or institution each record comes from.
        text: string columns; '' means missing.
        codes: for every text column, the value's code in one vocabulary shared by all columns
            (so that cross-column rules such as given = surname can compare codes); -1 means missing.
        numbers: numeric columns (dates as parts, flags, counts).
        vocabulary: the shared vocabulary, value -> code.
    """

    ids: tuple[str, ...]
    source: NDArray[np.int32]
    text: Mapping[str, NDArray[np.object_]]
    codes: Mapping[str, Codes]
    numbers: Mapping[str, NDArray[np.int64]] = field(default_factory=dict)
    vocabulary: Mapping[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def column(self, name: str) -> NDArray[np.object_]:
        """A text column by name; an unknown name is a configuration error."""
        try:
            return self.text[name]
        except KeyError:
            raise InvalidInput(f"unknown column {name!r}", code="mpi.unknown_column") from None

    def code(self, name: str) -> Codes:
        try:
            return self.codes[name]
        except KeyError:
            raise InvalidInput(f"unknown column {name!r}", code="mpi.unknown_column") from None

    def number(self, name: str) -> NDArray[np.int64]:
        try:
            return self.numbers[name]
        except KeyError:
            raise InvalidInput(f"unknown column {name!r}", code="mpi.unknown_column") from None

    def frequencies(self, name: str) -> NDArray[np.float64]:
        """Per record, the share of records holding the same value of `name` (0 where missing)."""
        codes = self.code(name)
        present = codes >= 0
        counts = np.bincount(codes[present], minlength=len(self.vocabulary) or 1)
        out = np.zeros(len(codes), dtype=np.float64)
        total = max(int(present.sum()), 1)
        out[present] = counts[codes[present]] / total
        return out


def factorize(values: Iterable[str], vocabulary: dict[str, int]) -> Codes:
    """Codes of `values` in `vocabulary` (extended in place); '' is missing (-1)."""
    get = vocabulary.setdefault
    out = [-1 if not v else get(v, len(vocabulary)) for v in values]
    return np.asarray(out, dtype=np.int32)


def make_frame(
    ids: Sequence[str],
    text: Mapping[str, Sequence[str]],
    *,
    source: Sequence[int] | None = None,
    numbers: Mapping[str, Sequence[int] | NDArray[np.int64]] | None = None,
) -> RecordFrame:
    """Build a frame, coding every text column in one shared vocabulary.

    Raises:
        InvalidInput: when columns differ in length from `ids`.
    """
    n = len(ids)
    lengths = {name: len(col) for name, col in {**text, **(numbers or {})}.items()}
    wrong = sorted(name for name, size in lengths.items() if size != n)
    if wrong or (source is not None and len(source) != n):
        raise InvalidInput("every column must have one value per record", code="mpi.column_length")
    vocabulary: dict[str, int] = {}
    text_cols = {name: np.asarray(list(col), dtype=object) for name, col in text.items()}
    codes = {name: factorize(col, vocabulary) for name, col in text_cols.items()}
    nums = {name: np.asarray(col, dtype=np.int64) for name, col in (numbers or {}).items()}
    src = np.zeros(n, dtype=np.int32) if source is None else np.asarray(source, dtype=np.int32)
    return RecordFrame(tuple(ids), src, text_cols, codes, nums, vocabulary)


def take(frame: RecordFrame, index: IntArray) -> RecordFrame:
    """The records at `index`, sharing the vocabulary (codes stay comparable)."""
    return RecordFrame(
        tuple(frame.ids[i] for i in index.tolist()),
        frame.source[index],
        {k: v[index] for k, v in frame.text.items()},
        {k: v[index] for k, v in frame.codes.items()},
        {k: v[index] for k, v in frame.numbers.items()},
        frame.vocabulary,
    )
