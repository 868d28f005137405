"""HL7 v2 problems (located, with an HL7 table 0357 error code) and the error that carries them."""

from __future__ import annotations

from dataclasses import dataclass

from healthbrain.core.errors import InvalidInput, Issue
from healthbrain.ingest.hl7v2.message import Location

# HL7 table 0357 (message error condition codes).
SEGMENT_SEQUENCE = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT = "201"
UNSUPPORTED_PROCESSING_ID = "202"
UNSUPPORTED_VERSION = "203"
UNKNOWN_KEY = "204"
DUPLICATE_KEY = "205"
RECORD_LOCKED = "206"
INTERNAL_ERROR = "207"

CODE_TEXT = {
    "0": "Message accepted",
    SEGMENT_SEQUENCE: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT: "Unsupported event code",
    UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    UNSUPPORTED_VERSION: "Unsupported version id",
    UNKNOWN_KEY: "Unknown key identifier",
    DUPLICATE_KEY: "Duplicate key identifier",
    RECORD_LOCKED: "Application record locked",
    INTERNAL_ERROR: "Application internal error",
}

# Rejections that are not about the content (the sender may not fix them by editing the message).
REJECT_CODES = frozenset(
    {
        UNSUPPORTED_MESSAGE_TYPE,
        UNSUPPORTED_EVENT,
        UNSUPPORTED_PROCESSING_ID,
        UNSUPPORTED_VERSION,
        INTERNAL_ERROR,
    }
)


@dataclass(frozen=True, slots=True)
class Hl7Problem:
    """One problem: an HL7 error code, where it is and what is wrong (never the offending value)."""

    code: str
    location: Location | None
    message: str
    severity: str = "E"  # E error, W warning, I information (HL7 table 0516)

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location is not None else ""
        return f"{where}{self.message}"


class Hl7Rejected(InvalidInput):
    """A message that cannot be accepted; every problem found is listed and located."""

    code = "hl7v2.rejected"

    def __init__(self, problems: list[Hl7Problem], *, code: str | None = None, reject: bool = False) -> None:
        if not problems:
            raise ValueError("Hl7Rejected needs at least one problem")
        self.problems = tuple(problems)
        self._reject = reject
        issues = [
            Issue("error", "invalid", p.message, str(p.location) if p.location is not None else None)
            for p in problems
        ]
        super().__init__(str(problems[0]), issues=issues, code=code)

    @property
    def rejected(self) -> bool:
        """True for AR (reject: unsupported or internal), False for AE (error in the content)."""
        return self._reject or any(p.code in REJECT_CODES for p in self.problems)


def problem(code: str, location: Location | None, message: str) -> Hl7Problem:
    """Shorthand for an error-level problem."""
    return Hl7Problem(code, location, message)


class SpecError(ValueError):
    """A mapping spec that cannot be used, with the file and element where it goes wrong."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.reason = message
