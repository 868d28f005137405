"""Parsing HL7 v2: separators, BOM, escapes, repetitions, character sets, batches and bad input."""

from __future__ import annotations

import pytest
from hl7samples import MESSAGES, SAMPLES, build, sample

from healthbrain.ingest.hl7v2 import Hl7Rejected, parse_message, split_batch
from healthbrain.ingest.hl7v2.message import components, repetitions, value


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_message_parses_with_all_its_segments(name: str) -> None:
    raw = sample(name)
    for part in split_batch(raw):
        message = parse_message(part)
        lines = [ln for ln in part.decode("utf-8-sig").replace("\r\n", "\r").replace("\n", "\r").split("\r")]
        assert len(message.segments) == len([ln for ln in lines if ln.strip()])
        assert message.msh.name == "MSH" and message.control_id and message.version.startswith("2.")


def test_cr_lf_and_crlf_separators_and_a_bom_give_the_same_message() -> None:
    text = (MESSAGES / "LAB-ORU-1.hl7").read_bytes().decode("utf-8-sig").replace("\r\n", "\n")
    lines = [ln for ln in text.split("\n") if ln]
    variants = [sep.join(lines).encode() for sep in ("\r", "\n", "\r\n")]
    variants.append(b"\xef\xbb\xbf" + "\r".join(lines).encode())
    parsed = [parse_message(v) for v in variants]
    assert len({tuple(s.fields for s in m.segments) for m in parsed}) == 1
    assert parsed[0].first("OBX") is not None


def test_escape_sequences_are_decoded_in_values() -> None:
    raw = build(
        "MSH|^~\\&|A|B|C|D|20250101||ADT^A08|X1|P|2.5",
        "NTE|1||Na \\T\\ K: 140\\S\\4.1 \\F\\ ratio \\R\\ ok \\E\\ line1\\.br\\line2 \\H\\bold\\N\\ \\X41\\",
    )
    nte = parse_message(raw).first("NTE")
    assert nte is not None
    assert value(parse_message(raw), nte, 3) == "Na & K: 140^4.1 | ratio ~ ok \\ line1\nline2 bold A"


def test_repetitions_components_and_subcomponents() -> None:
    message = parse_message(sample("ADT-A01-01.hl7"))
    pid = message.first("PID")
    assert pid is not None
    reps = repetitions(message, pid, 3)
    assert len(reps) == 2
    first = components(message, reps[0])
    assert first[0] == ("PATID1234",)
    assert first[3] == ("test1", "2.16.1", "HCD")  # CX.4 assigning authority as subcomponents
    assert value(message, pid, 3, rep=2, comp=4) == "USSSA"
    assert value(message, pid, 5, rep=1, comp=1, sub=5) == "Aniston"


def test_gb18030_message_declared_in_msh18_keeps_chinese_text_whose_bytes_look_like_delimiters() -> None:
    # 億 encodes with the trail byte 0x7C ('|') and 區 with 0x5E ('^'): splitting bytes would break them.
    raw = build(
        "MSH|^~\\&|HIS|县医院|HB|REGION|20250301||ADT^A01|G1|P|2.5|||||CHN|GB 18030-2000",
        "PID|1||P100^^^县医院^MR||张^億||19800101|M|||幸福路1号^^杭州市^浙江省^310000^CHN^H^^西湖區",
        encoding="gb18030",
    )
    assert "億".encode("gb18030")[1:] == b"|"
    message = parse_message(raw)
    pid = message.first("PID")
    assert pid is not None and message.codec == "gb18030"
    assert value(message, pid, 5, comp=2) == "億"
    assert value(message, pid, 11, comp=9) == "西湖區"


def test_utf8_is_detected_without_msh18_and_gb18030_is_the_fallback() -> None:
    segments = ("MSH|^~\\&|HIS|H|HB|R|20250301||ADT^A01|U1|P|2.5", "PID|1||P1^^^H^MR||李^娜")
    assert parse_message(build(*segments)).codec == "utf-8"
    assert parse_message(build(*segments, encoding="gb18030")).codec == "gb18030"


def test_bytes_not_valid_in_the_declared_charset_are_refused_at_msh18() -> None:
    raw = build(
        "MSH|^~\\&|HIS|H|HB|R|20250301||ADT^A01|E1|P|2.5|||||CHN|UNICODE UTF-8",
        "PID|1||P1^^^H^MR||张^伟",
        encoding="gb18030",
    )
    with pytest.raises(Hl7Rejected) as err:
        parse_message(raw)
    (problem,) = err.value.problems
    assert (problem.code, str(problem.location)) == ("102", "MSH-18")


def test_unknown_charset_is_refused() -> None:
    raw = build("MSH|^~\\&|HIS|H|HB|R|20250301||ADT^A01|E2|P|2.5|||||CHN|EBCDIC-999", "PID|1||P1")
    with pytest.raises(Hl7Rejected) as err:
        parse_message(raw)
    assert err.value.problems[0].code == "102"


@pytest.mark.parametrize(
    ("raw", "code", "where"),
    [
        (b"PID|1||P1\rOBX|1", "100", "MSH"),
        (b"", "100", "MSH"),
        (b"MSH|^~|A|B\rPID|1", "102", "MSH-2"),
        (b"MSH|^~\\&|A|B|C|D|20250101||ADT^A01||P|2.5\rPID|1", "101", "MSH-10"),
        (b"MSH|^~\\&|A|B|C|D|20250101||ADT|X|P|2.5\rPID|1", "101", "MSH-9.2"),
        (b"MSH|^~\\&|A|B|C|D|20250101||ADT^A01|X|P|2.5\rP!D|1", "100", "#2"),
    ],
)
def test_malformed_messages_are_refused_with_the_place_of_the_problem(
    raw: bytes, code: str, where: str
) -> None:
    with pytest.raises(Hl7Rejected) as err:
        parse_message(raw)
    assert (err.value.problems[0].code, str(err.value.problems[0].location)) == (code, where)


def test_a_batch_file_is_split_into_its_messages() -> None:
    parts = split_batch(sample("python-hl7_sample_batch_ADT-A04.hl7"))
    assert len(parts) == 1
    message = parse_message(parts[0])
    assert (message.message_type, message.trigger_event, message.control_id) == (
        "ADT",
        "A04",
        "12334456778890",
    )
    assert [s.name for s in message.segments] == ["MSH", "EVN", "PID", "PD1", "NK1", "PV1"]
