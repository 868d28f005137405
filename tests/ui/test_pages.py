"""Every cockpit page loads for a role allowed to use it, in Chinese (the default) and in English, with
live data of the demo region; each is photographed into docs/screenshots/ for the README."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from cockpitkit import Cockpit, critical_potassium

from conftest import SCREENSHOTS

# page, path, role that uses it, the heading in each language, something the page must show
PAGES = [
    ("overview", "/ui/", "regional-officer", ("区域总览", "Region overview"), "#region-map canvas"),
    (
        "patient",
        "/ui/patients/{patient}",
        "clinician",
        ("在各机构的记录", "Records at institutions"),
        "#h-labs",
    ),
    ("alerts", "/ui/alerts?all=1", "clinician", ("告警收件箱", "Alerts inbox"), "#h-open"),
    (
        "surveillance",
        "/ui/surveillance?disease=influenza",
        "cdc-officer",
        ("传染病监测", "Surveillance"),
        "#threshold-chart canvas",
    ),
    ("datahub", "/ui/datahub", "platform-admin", ("数据中心", "Data hub"), "#throughput canvas"),
    ("patient-index", "/ui/datahub", "index-steward", ("数据中心", "Data hub"), "#h-mpi"),
    ("audit", "/ui/audit", "security-auditor", ("审计与安全", "Audit and security"), "#audit-table"),
]


@pytest.mark.slow
@pytest.mark.xdist_group(name="cockpit")
@pytest.mark.parametrize(("name", "path", "role", "headings", "shown"), PAGES, ids=[p[0] for p in PAGES])
def test_page_loads_in_both_languages(
    page_of: Callable[[str], object],
    cockpit: Cockpit,
    name: str,
    path: str,
    role: str,
    headings: tuple[str, str],
    shown: str,
) -> None:
    page = page_of(role)
    if name == "alerts":  # a critical value waiting for acknowledgement, for the picture
        with cockpit.api() as api:
            api.put(
                "/fhir/R4/Observation/ui-k-shot", json=critical_potassium(cockpit, "ui-k-shot")
            ).raise_for_status()
            deadline = time.monotonic() + 20
            while not api.get("/api/v1/cds/alerts", params={"status": "open"}).json()["alerts"]:
                assert time.monotonic() < deadline, "no alert was raised"
                time.sleep(0.2)
    url = cockpit.base + path.format(patient=cockpit.patient)
    for lang, heading in zip(("zh_CN", "en"), headings, strict=True):
        page.goto(
            f"{cockpit.base}/ui/lang?to={lang}&next=" + path.format(patient=cockpit.patient).split("?")[0]
        )  # type: ignore[attr-defined]
        page.goto(url)  # type: ignore[attr-defined]
        assert heading in page.inner_text("main")  # type: ignore[attr-defined]
        page.wait_for_selector(shown)  # type: ignore[attr-defined]
        page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
        text = page.inner_text("body")  # type: ignore[attr-defined]
        assert "Traceback" not in text and "出错了" not in text and "Something went wrong" not in text
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{lang}.png"))  # type: ignore[attr-defined]
    page.goto(f"{cockpit.base}/ui/lang?to=zh_CN&next=/ui/")  # type: ignore[attr-defined]
