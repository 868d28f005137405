"""Loading HIS/LIS exports through the repository: the shipped examples, Excel, encodings, bad rows and
broken files — on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from healthbrain.core.context import system_context
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest.tabular import (
    TabularSummary,
    TerminologyCodes,
    example_path,
    ingest_table,
    load_spec,
    review_sightings,
)
from healthbrain.terminology import ICD10, LOINC, TerminologyService, local_system

CTX = system_context()
LAB = local_system("kecheng-rmyy", "lab")


def _load(repo: FhirRepository, terminology: TerminologyService, path: Path, spec: str) -> TabularSummary:
    return ingest_table(repo, CTX, path, load_spec(example_path(spec)), codes=TerminologyCodes(terminology),
                        sightings=review_sightings(terminology))  # fmt: skip


def _all(repo: FhirRepository, rt: str, *params: tuple[str, str]) -> list[dict[str, Any]]:
    return run_search(repo, CTX, rt, [*params, ("_count", "500")]).matches


def _rows(name: str) -> list[list[str]]:
    text = example_path(name).read_text(encoding="utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def _write(path: Path, rows: list[list[Any]], encoding: str = "utf-8-sig") -> Path:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def test_outpatient_visits_in_both_encodings_give_the_same_record(
    coded_repo: FhirRepository, terminology: TerminologyService
) -> None:
    first = _load(coded_repo, terminology, example_path("outpatient-visits.csv"), "outpatient-visits.yaml")
    assert first.encoding == "utf-8-sig" and not first.errors and first.file_error is None
    assert first.rows == first.loaded_rows == len(_rows("outpatient-visits.csv")) - 1
    visits = {r[0] for r in _rows("outpatient-visits.csv")[1:]}
    assert dict(first.resources) == {"Patient": 6, "Encounter": len(visits), "Condition": first.rows}
    again = _load(
        coded_repo, terminology, example_path("outpatient-visits-gb18030.csv"), "outpatient-visits.yaml"
    )
    assert again.encoding == "gb18030" and again.outcomes == {"unchanged": sum(first.resources.values())}
    encounter = _all(
        coded_repo,
        "Encounter",
        ("identifier", "https://healthbrain.dev/fhir/sid/kecheng-rmyy/visit|MZ20250304033"),
    )[0]
    assert [d["rank"] for d in encounter["diagnosis"]] == [1, 2, 2] and encounter["period"][
        "start"
    ] == "2025-03-04T14:20:00+08:00"
    conditions = _all(coded_repo, "Condition", ("encounter", f"Encounter/{encounter['id']}"))
    assert {c["code"]["coding"][0]["code"] for c in conditions} == {"J44.9", "I25.1", "I10"}
    patient = _all(
        coded_repo, "Patient", ("identifier", "https://healthbrain.dev/fhir/sid/kecheng-rmyy/mrn|M0012031")
    )[0]
    assert (
        patient["birthDate"] == "1958-04-12"
        and patient["gender"] == "male"
        and patient["name"][0]["text"] == "王建国"
    )
    assert any(i["system"] == "urn:oid:2.16.156.10011.1.1" for i in patient["identifier"])
    child = _all(
        coded_repo, "Patient", ("identifier", "https://healthbrain.dev/fhir/sid/kecheng-rmyy/mrn|M0012081")
    )[0]
    assert [i["system"] for i in child["identifier"]] == ["https://healthbrain.dev/fhir/sid/kecheng-rmyy/mrn"]


def test_lab_results_get_loinc_codes_reports_and_queue_unmapped_codes(
    coded_repo: FhirRepository, terminology: TerminologyService
) -> None:
    summary = _load(coded_repo, terminology, example_path("lab-results-gb18030.csv"), "lab-results.yaml")
    assert not summary.errors and summary.resources["Observation"] == len(_rows("lab-results.csv")) - 1
    glucose = _all(coded_repo, "Observation", ("code", f"{LOINC}|14749-6"))
    assert len(glucose) == 1
    obs = glucose[0]
    assert obs["code"]["coding"][-1] == {"system": LAB, "code": "GLU", "display": "葡萄糖"}
    assert obs["valueQuantity"] == {
        "value": 8.6,
        "unit": "mmol/L",
        "system": "http://unitsofmeasure.org",
        "code": "mmol/L",
    }
    assert (
        obs["interpretation"][0]["coding"][0]["code"] == "H" and obs["issued"] == "2025-03-03T10:48:03+08:00"
    )
    crp = _all(coded_repo, "Observation", ("code", f"{LOINC}|1988-5"))[0]
    assert crp["valueQuantity"]["comparator"] == "<" and crp["valueQuantity"]["value"] == 0.5
    assert "interpretation" not in crp  # an empty flag makes no element
    report = _all(
        coded_repo,
        "DiagnosticReport",
        ("identifier", "https://healthbrain.dev/fhir/sid/kecheng-rmyy/specimen|2503030102"),
    )[0]
    assert report["code"]["text"] == "肾功能" and len(report["result"]) == 4
    urate = _all(coded_repo, "Observation", ("code", f"{LAB}|UA"))[0]
    assert [c["system"] for c in urate["code"]["coding"]] == [LAB]
    item = terminology.reviews.find(LAB, "UA")
    assert item is not None and item.status == "open" and item.display == "尿酸"
    assert terminology.reviews.resources(item.id) == [("Observation", urate["id"])]


def test_excel_workbooks_with_typed_cells(
    tmp_path: Path, coded_repo: FhirRepository, terminology: TerminologyService
) -> None:
    import datetime as dt

    rows = _rows("lab-results.csv")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "检验结果"
    sheet.append(rows[0])
    for row in rows[1:]:
        typed: list[Any] = list(row)
        typed[12] = dt.datetime.strptime(row[12], "%Y/%m/%d %H:%M")
        typed[8] = float(row[8]) if row[8].replace(".", "").isdigit() else row[8]
        sheet.append(typed)
    sheet.append([None] * len(rows[0]))  # a trailing empty row
    sheet.append(
        [
            "2503059999",
            "M0012031",
            "王建国",
            "男",
            "",
            "血糖",
            "GLU",
            "葡萄糖",
            "6.0",
            "mmol/L",
            "",
            "",
            "",
            "",
            "",
        ]
    )
    path = tmp_path / "lis.xlsx"
    book.save(path)
    summary = _load(coded_repo, terminology, path, "lab-results.yaml")
    assert summary.kind == "excel" and summary.sheet == "检验结果"
    assert summary.loaded_rows == len(rows) - 1
    [error] = summary.errors
    assert error.line == len(rows) + 2 and error.column == "报告时间" and error.column_label == "N"
    assert error.location("excel") == f"row {len(rows) + 2}, column N (报告时间)"
    glucose = _all(coded_repo, "Observation", ("code", f"{LOINC}|14749-6"))[0]
    assert (
        glucose["effectiveDateTime"] == "2025-03-03T09:20:00+08:00"
        and glucose["valueQuantity"]["value"] == 8.6
    )


def test_bad_rows_are_reported_with_line_and_column_and_good_rows_load(
    tmp_path: Path, coded_repo: FhirRepository, terminology: TerminologyService
) -> None:
    rows = _rows("outpatient-visits.csv")
    header, good = rows[0], rows[1:]
    bad_date = [*good[2][:7], "2025/2/30 9:00", *good[2][8:]]
    bad_sex = [*good[3][:3], "男性", *good[3][4:]]
    no_mrn = [good[4][0], "", *good[4][2:]]
    bad_code = [*good[5][:11], "I10.99", *good[5][12:]]
    bad_id = [*good[6][:5], good[6][5][:-1] + ("0" if good[6][5][-1] != "0" else "1"), *good[6][6:]]
    two_problems = [*good[7][:4], "1950年2月30日", good[7][5], good[7][6], "明天", *good[7][8:]]
    path = _write(
        tmp_path / "visits.csv",
        [header, good[0], good[1], bad_date, bad_sex, no_mrn, bad_code, bad_id, two_problems],
    )
    summary = _load(coded_repo, terminology, path, "outpatient-visits.yaml")
    found = {(e.line, e.column, e.code) for e in summary.errors}
    assert found == {
        (4, "就诊时间", "tabular.bad_date"), (5, "性别", "tabular.unknown_value"), (6, "门诊号", "tabular.required"),
        (7, "诊断编码", "tabular.unknown_code"), (8, "身份证号", "tabular.bad_id_card"),
        (9, "出生日期", "tabular.bad_date"), (9, "就诊时间", "tabular.bad_datetime"),
    }  # fmt: skip
    assert next(e for e in summary.errors if e.line == 4).column_label == "8"
    assert summary.loaded_rows == 2 and summary.failed_rows == 6
    assert len(_all(coded_repo, "Condition")) == 2


def test_rows_the_repository_refuses_are_set_aside_alone(
    tmp_path: Path, coded_repo: FhirRepository, terminology: TerminologyService
) -> None:
    rows = _rows("lab-results.csv")
    header, good = rows[0], rows[1:]
    date_only = [*good[1][:13], "2025-03-03", *good[1][14:]]  # issued must be an instant, a date is refused
    path = _write(tmp_path / "lab.csv", [header, *good[:1], date_only, *good[2:]])
    summary = _load(coded_repo, terminology, path, "lab-results.yaml")
    assert [(e.line, e.column) for e in summary.errors] == [(3, None)]
    assert "issued" in summary.errors[0].message
    assert summary.loaded_rows == len(good) - 1
    report = _all(
        coded_repo,
        "DiagnosticReport",
        ("identifier", f"https://healthbrain.dev/fhir/sid/kecheng-rmyy/specimen|{good[0][0]}"),
    )[0]
    assert len(report["result"]) == 2  # the specimen's other results are in


@pytest.mark.parametrize(
    ("name", "content", "code", "where"),
    [
        ("no-mrn.csv", "条码号,姓名,检验组合,项目代码,结果,报告时间\r\n1,张三,血糖,GLU,5.1,2025-03-03 10:00\r\n".encode(),
         "tabular.bad_header", "line 1"),
        ("dup.csv", "条码号,门诊号,门诊号,检验组合,项目代码,结果,报告时间\r\n".encode(), "tabular.bad_header", "line 1"),
        ("empty.csv", b"", "tabular.no_header", "line 1"),
        ("broken.xlsx", b"PK\x03\x04 not really a workbook", "tabular.bad_workbook", "broken.xlsx"),
        ("old.xls", b"\xd0\xcf\x11\xe0", "tabular.xls", "old.xls"),
    ],
)  # fmt: skip
def test_broken_files_get_one_precise_error(tmp_path: Path, coded_repo: FhirRepository, terminology: TerminologyService,
                                            name: str, content: bytes, code: str, where: str) -> None:  # fmt: skip
    path = tmp_path / name
    path.write_bytes(content)
    summary = _load(coded_repo, terminology, path, "lab-results.yaml")
    assert summary.file_error is not None and summary.file_error.code == code
    assert where in (summary.file_error.issues[0].expression or "")
    assert summary.loaded_rows == 0


def test_a_declared_encoding_that_does_not_fit_points_at_the_line(
    tmp_path: Path, coded_repo: FhirRepository, terminology: TerminologyService
) -> None:
    import dataclasses

    spec = load_spec(example_path("lab-results.yaml"))
    spec = dataclasses.replace(spec, source=dataclasses.replace(spec.source, encoding="utf-8"))
    summary = ingest_table(
        coded_repo, CTX, example_path("lab-results-gb18030.csv"), spec, codes=TerminologyCodes(terminology)
    )
    assert summary.file_error is not None and summary.file_error.code == "tabular.bad_encoding"
    assert "line 1" in (summary.file_error.issues[0].expression or "")
    assert ICD10  # the terminology fixture holds ICD-10 as well
