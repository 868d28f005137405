"""HL7 v2 test helpers (imported by the tests): the real sample messages and small synthetic ones."""

from __future__ import annotations

import re
from pathlib import Path

HL7_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "hl7v2"
MESSAGES = HL7_DATA / "messages"
EXPECTED = HL7_DATA / "expected-fhir"
SAMPLES = sorted(p.name for p in MESSAGES.glob("*.hl7"))
WITH_EXPECTED = sorted(p.name.removesuffix("-expected.json") + ".hl7" for p in EXPECTED.glob("*.json"))
# The GHH LAB sample sends the impossible birth date 19620352 (PID-7): it must be refused, not mapped.
MAPPABLE = [n for n in SAMPLES if n != "python-hl7_sample_ORU-R01_GHH-LAB.hl7"]


def sample(name: str) -> bytes:
    return (MESSAGES / name).read_bytes()


def set_field(raw: bytes, segment: str, field: int, value: str, occurrence: int = 1) -> bytes:
    """A copy of the message with one field replaced (fields counted as in HL7: MSH-3 is MSH's third)."""
    text = raw.decode("utf-8-sig")
    lines = re.split(r"(\r\n|\r|\n)", text)
    seen = 0
    for i, line in enumerate(lines):
        if line.startswith(segment + "|"):
            seen += 1
            if seen != occurrence:
                continue
            parts = line.split("|")
            index = field - 1 if segment == "MSH" else field
            parts += [""] * (index + 1 - len(parts))
            parts[index] = value
            lines[i] = "|".join(parts)
            break
    return "".join(lines).encode("utf-8")


def build(*segments: str, encoding: str = "utf-8") -> bytes:
    """A message from segment strings, CR-separated as the standard says."""
    return ("\r".join(segments) + "\r").encode(encoding)


def oru(control_id: str = "C1", patient: str = "MRN001", value: str = "5.6", status: str = "F") -> bytes:
    """A small lab result from a county hospital LIS (a glucose in mmol/L)."""
    return build(
        f"MSH|^~\\&|LIS|COUNTY-HOSP|HB|REGION|20250301101500+0800||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
        f"PID|1||{patient}^^^COUNTY-HOSP^MR||Wang^Fang||19800512|F",
        "PV1|1|O|LAB^^^COUNTY-HOSP||||||||||||||||V123^^^COUNTY-HOSP^VN",
        "ORC|RE|ORD-9^HIS|LAB-77^LIS",
        "OBR|1|ORD-9^HIS|LAB-77^LIS|2345-7^Glucose^LN|||20250301080000+0800|||||||||||||||20250301101000+0800|||F",
        f"OBX|1|NM|2345-7^Glucose^LN||{value}|mmol/L^mmol/L^UCUM|3.9-6.1|N|||{status}|||20250301093000+0800",
        "OBX|2|ST|8251-1^Comment^LN||fasting sample||||||F",
    )


def segment(name: str, fields: dict[int, str]) -> str:
    """A segment with the given fields by number (PV1-19 is `{19: ...}`), the rest empty."""
    values = [""] * max(fields)
    for n, v in fields.items():
        values[n - 1] = v
    return "|".join([name, *values])
