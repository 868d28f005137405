"""One test per role: the menu offers only its pages, other pages answer 403 with a clear message, and
data the policy withholds from the role never reaches its screen."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cockpitkit import Cockpit

# one worker runs every browser test: they share the demo region and its server
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name="cockpit")]
ALL_PAGES = {
    "/ui/": "区域总览",
    "/ui/patients": "居民健康档案",
    "/ui/alerts": "告警收件箱",
    "/ui/surveillance": "传染病监测",
    "/ui/datahub": "数据中心",
    "/ui/audit": "审计与安全",
}


def _menu(page: object) -> list[str]:
    return [t.strip() for t in page.locator(".sidenav a").all_inner_texts()]  # type: ignore[attr-defined]


def _check_gates(page: object, cockpit: Cockpit, allowed: set[str]) -> None:
    page.goto(f"{cockpit.base}/ui/")  # type: ignore[attr-defined]
    menu = _menu(page)
    assert [m.split("\n")[0] for m in menu] == [ALL_PAGES[p] for p in ALL_PAGES if p in allowed]
    for path, title in ALL_PAGES.items():
        response = page.goto(cockpit.base + path)  # type: ignore[attr-defined]
        if path in allowed:
            assert response.status == 200, path
        else:
            assert response.status == 403, path
            text = page.inner_text("main")  # type: ignore[attr-defined]
            assert "无权访问" in text and title in text  # says which page, in the user's language


def _patient_name(page: object, cockpit: Cockpit, pid: str) -> str:
    with cockpit.api() as api:
        return str(api.get(f"/fhir/R4/Patient/{pid}").json()["name"][0]["text"])


def test_clinician_sees_own_patients_only(page_of: Callable[[str], object], cockpit: Cockpit) -> None:
    page = page_of("clinician")
    _check_gates(page, cockpit, {"/ui/", "/ui/patients", "/ui/alerts", "/ui/audit"})
    # a patient of another county's institution: no care relationship, so not found and not readable
    name = _patient_name(page, cockpit, cockpit.other_patient)
    page.goto(f"{cockpit.base}/ui/patients?q={name}")  # type: ignore[attr-defined]
    assert cockpit.other_patient not in page.content()  # type: ignore[attr-defined]
    response = page.goto(f"{cockpit.base}/ui/patients/{cockpit.other_patient}")  # type: ignore[attr-defined]
    assert response.status in (403, 404) and name not in page.inner_text("body")  # type: ignore[attr-defined]
    # the own patient's record shows their records at other institutions they consented to share
    page.goto(f"{cockpit.base}/ui/patients/{cockpit.patient}")  # type: ignore[attr-defined]
    assert page.locator("#h-records ~ ul .chip").count() >= 2  # type: ignore[attr-defined]
    page.goto(f"{cockpit.base}/ui/")  # type: ignore[attr-defined]
    assert "数据质量" not in page.inner_text("main")  # type: ignore[attr-defined]  # region scores are for managers


def test_cdc_officer_has_no_clinical_inbox_or_data_hub(
    page_of: Callable[[str], object], cockpit: Cockpit
) -> None:
    page = page_of("cdc-officer")
    _check_gates(page, cockpit, {"/ui/", "/ui/patients", "/ui/surveillance", "/ui/audit"})
    page.goto(f"{cockpit.base}/ui/")  # type: ignore[attr-defined]
    assert "未关闭信号" in page.inner_text("main")  # type: ignore[attr-defined]
    assert "数据质量" not in page.inner_text("main")  # type: ignore[attr-defined]


def test_regional_officer_sees_aggregates_never_a_patient(
    page_of: Callable[[str], object], cockpit: Cockpit
) -> None:
    page = page_of("regional-officer")
    _check_gates(page, cockpit, {"/ui/", "/ui/datahub", "/ui/audit"})
    name = _patient_name(page, cockpit, cockpit.patient)
    response = page.goto(f"{cockpit.base}/ui/patients/{cockpit.patient}")  # type: ignore[attr-defined]
    assert response.status == 403
    for path in ("/ui/", "/ui/datahub"):
        page.goto(cockpit.base + path)  # type: ignore[attr-defined]
        page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
        body = page.inner_text("body")  # type: ignore[attr-defined]
        assert name not in body and cockpit.patient not in body
    assert "主索引" not in page.inner_text("main")  # type: ignore[attr-defined]  # the review queue is the steward's
    assert "各机构数据通道" in page.inner_text("main")  # type: ignore[attr-defined]


def test_security_auditor_sees_the_trail_not_the_records(
    page_of: Callable[[str], object], cockpit: Cockpit
) -> None:
    page = page_of("security-auditor")
    _check_gates(page, cockpit, {"/ui/", "/ui/audit"})
    page.goto(f"{cockpit.base}/ui/")  # type: ignore[attr-defined]
    page.wait_for_selector("#h-cond ~ div .notice")  # type: ignore[attr-defined]
    main = page.inner_text("main")  # type: ignore[attr-defined]
    assert "今日记录" not in main and "您的角色无权统计诊断" in main
    page.goto(f"{cockpit.base}/ui/audit?action=read")  # type: ignore[attr-defined]
    assert page.locator("#audit-table tbody tr").count() > 0  # type: ignore[attr-defined]


def test_platform_operator_runs_feeds_without_patient_data(
    page_of: Callable[[str], object], cockpit: Cockpit
) -> None:
    page = page_of("platform-admin")
    _check_gates(page, cockpit, {"/ui/", "/ui/surveillance", "/ui/datahub"})
    page.goto(f"{cockpit.base}/ui/datahub")  # type: ignore[attr-defined]
    main = page.inner_text("main")  # type: ignore[attr-defined]
    assert "各机构数据通道" in main and "隔离队列" in main and "主索引" not in main
    assert "验证" not in _menu(page)


def test_index_steward_reviews_matches_but_not_scores(
    page_of: Callable[[str], object], cockpit: Cockpit
) -> None:
    page = page_of("index-steward")
    _check_gates(page, cockpit, {"/ui/", "/ui/patients", "/ui/datahub"})
    page.goto(f"{cockpit.base}/ui/datahub")  # type: ignore[attr-defined]
    main = page.inner_text("main")  # type: ignore[attr-defined]
    assert "主索引" in main and "各机构数据通道" not in main and "隔离队列" not in main
