"""The main flows in the browser: sign in with TOTP and sign out, acknowledge a critical value that
arrives live, verify and respond to a signal, review a possible patient match, verify the audit chain."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable

import httpx
import pytest
from cockpitkit import DEV, PASSWORD, Account, Cockpit, critical_potassium

from conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORT

# one worker runs every browser test: they share the demo region and its server
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name="cockpit")]


def test_sign_in_with_totp_then_sign_out_revokes_the_session(
    playwright_driver: object, cockpit: Cockpit
) -> None:
    identity = cockpit.app.state.hb.security.identity
    enrol = identity.create_user("ui-signin", PASSWORD, ["cdc-officer"], "adm-330000")
    account = Account("ui-signin", enrol.totp_secret, "cdc-officer", "adm-330000", None)
    context = playwright_driver.chromium.launch_persistent_context(  # type: ignore[attr-defined]
        tempfile.mkdtemp(prefix="hb-chromium-signin-"),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport=VIEWPORT,
        locale="zh-CN",
    )
    context.set_default_timeout(90_000)  # a loaded CI machine renders the first page slowly
    try:
        page = context.new_page()
        page.goto(f"{cockpit.base}/ui/surveillance")
        page.wait_for_url(re.compile(r".*/ui/login\?next=/ui/surveillance"))
        assert "健康大脑驾驶舱" in page.inner_text("h1")  # Chinese by default
        page.fill("#username", account.username)
        page.fill("#password", PASSWORD)
        page.fill("#totp", "000000")
        page.click("button[type=submit]")
        assert "登录失败" in page.inner_text("[role=alert]")
        page.fill("#password", PASSWORD)
        page.fill("#totp", account.code())
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/ui/surveillance$"))  # back where the user wanted to go
        (cookie,) = [c for c in context.cookies() if c["name"] == "hb_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
        page.click("text=退出登录")
        page.wait_for_url(re.compile(r".*/ui/login\?out=1"))
        assert "您已退出登录" in page.inner_text("[role=alert]")
        context.add_cookies([cookie])  # a copy of the old cookie is worth nothing: the session was revoked
        page.goto(f"{cockpit.base}/ui/")
        page.wait_for_url(re.compile(r".*/ui/login\?expired=1.*"))
        assert "会话已结束" in page.inner_text("[role=alert]")
    finally:
        context.close()


def test_acknowledge_a_critical_value_that_arrives_live(
    page_of: Callable[[str], object], cockpit: Cockpit
) -> None:
    page = page_of("clinician")
    page.goto(f"{cockpit.base}/ui/alerts")  # type: ignore[attr-defined]
    assert "告警收件箱" in page.inner_text("h1")  # type: ignore[attr-defined]
    time.sleep(1.0)  # the live stream connects
    before = page.locator("#alert-lists tr.prio-critical").count()  # type: ignore[attr-defined]
    with cockpit.api() as api:
        lab = critical_potassium(cockpit, "ui-k-1")
        assert api.put("/fhir/R4/Observation/ui-k-1", json=lab).status_code in (200, 201)
    # no reload: the live stream brings the new alert into the open list
    page.wait_for_function(  # type: ignore[attr-defined]
        "n => document.querySelectorAll('#alert-lists tr.prio-critical').length > n",
        arg=before,
        timeout=20_000,
    )
    with cockpit.api() as api:
        mine = api.get("/api/v1/cds/alerts", params={"patient": f"Patient/{cockpit.patient}"}).json()[
            "alerts"
        ]
    (alert_id,) = [a["id"] for a in mine if a["source"].startswith("Observation/ui-k-1/")]
    row = page.wait_for_selector(f"#alert-{alert_id}")  # type: ignore[attr-defined]
    assert "危急值" in row.inner_text()
    assert "剩余" in page.inner_text(f"#alert-{alert_id} .timer")  # type: ignore[attr-defined]  # escalation timer
    toast = page.wait_for_selector(".toast")  # type: ignore[attr-defined]
    assert "危急值" in toast.inner_text()
    row_id = row.get_attribute("id")
    page.click(f"#{row_id} button:has-text('确认接收')")  # type: ignore[attr-defined]
    page.wait_for_selector(f"#{row_id} >> text=已确认")  # type: ignore[attr-defined]
    with cockpit.api() as api:
        alert = api.get(f"/api/v1/cds/alerts/{row_id.removeprefix('alert-')}").json()
    assert alert["status"] == "acknowledged"
    assert alert["acknowledged_by"] == f"Practitioner/{cockpit.practitioner}"
    # the live stream redraws the inbox: the row moves to the acknowledged list
    page.wait_for_selector(f"#alert-lists section[aria-labelledby=h-ack] #{row_id}")  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    page.fill(f"#{row_id} input[name=action]", "已通知患者复查并停用补钾")  # type: ignore[attr-defined]
    page.click(f"#{row_id} button:has-text('完成')")  # type: ignore[attr-defined]
    page.wait_for_selector(f"#{row_id}", state="detached")  # type: ignore[attr-defined]  # closed: off the inbox
    with cockpit.api() as api:
        alert = api.get(f"/api/v1/cds/alerts/{row_id.removeprefix('alert-')}").json()
    assert alert["status"] == "completed" and alert["completed_by"] == f"Practitioner/{cockpit.practitioner}"


def test_verify_and_respond_to_a_signal(page_of: Callable[[str], object], cockpit: Cockpit) -> None:
    page = page_of("cdc-officer")
    page.goto(f"{cockpit.base}/ui/surveillance?disease=influenza")  # type: ignore[attr-defined]
    row = page.wait_for_selector("#signal-table tbody tr")  # type: ignore[attr-defined]
    sid = row.get_attribute("id").removeprefix("signal-")
    assert "柯城区" in row.inner_text() and "新信号" in row.inner_text()
    steps = [
        ("分派", "已推送至县级处置人员"),
        ("开始核实", "核实中"),
        ("确认暴发", "确认暴发"),
        ("记录已启动响应", "已启动响应"),
    ]
    for button, status in steps:
        page.click(f"#signal-{sid} button:has-text('{button}')")  # type: ignore[attr-defined]
        page.wait_for_selector(f"#signal-{sid} .tag:has-text('{status}')")  # type: ignore[attr-defined]
    with cockpit.api() as api:
        signal = api.get(f"/api/v1/surveillance/signals/{sid}").json()
    assert signal["status"] == "responded" and signal["outcome"] == "outbreak"
    assert signal["assignee"] == "cdc-officer-1"


def test_review_a_possible_patient_match(page_of: Callable[[str], object], cockpit: Cockpit) -> None:
    page = page_of("index-steward")
    page.goto(f"{cockpit.base}/ui/datahub")  # type: ignore[attr-defined]
    review = page.wait_for_selector("article.review")  # type: ignore[attr-defined]
    rid = review.get_attribute("id").removeprefix("review-")
    assert "Patient/ui-dup-1" in review.inner_text()
    page.click(f"#review-{rid} button:has-text('同一人：关联')")  # type: ignore[attr-defined]
    page.wait_for_selector(f"#decide-{rid} >> text=已关联")  # type: ignore[attr-defined]
    token = cockpit.token("index-steward")
    with httpx.Client(base_url=cockpit.base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        linked = api.get("/api/v1/mpi/reviews", params={"status": "linked"}).json()["items"]
    assert int(rid) in [r["id"] for r in linked]


def test_verify_the_audit_chain_shows_progress_and_result(
    page_of: Callable[[str], object], cockpit: Cockpit
) -> None:
    page = page_of("security-auditor")
    page.goto(f"{cockpit.base}/ui/audit")  # type: ignore[attr-defined]
    page.click("text=立即校验审计链")  # type: ignore[attr-defined]
    page.wait_for_selector("#verify-job progress")  # type: ignore[attr-defined]
    ok = page.wait_for_selector("#chain-ok", timeout=60_000)  # type: ignore[attr-defined]
    assert "审计链完整" in ok.inner_text()
    # the break-glass access the clinician used (to a patient of elsewhere) is on the auditor's page
    assert cockpit.other_patient in page.inner_text("#h-bg ~ .scroll table")  # type: ignore[attr-defined]


def test_run_detection_over_a_period_shows_progress(
    page_of: Callable[[str], object], cockpit: Cockpit
) -> None:
    page = page_of("cdc-officer")
    page.goto(f"{cockpit.base}/ui/surveillance")  # type: ignore[attr-defined]
    page.fill("#d-from", "2025-11-15")  # type: ignore[attr-defined]
    page.fill("#d-to", "2025-11-24")  # type: ignore[attr-defined]
    page.click("text=运行检测")  # type: ignore[attr-defined]
    done = page.wait_for_selector("#detect-job .notice.ok", timeout=60_000)  # type: ignore[attr-defined]
    assert "已检查 10 天" in done.inner_text()
    assert page.get_attribute("#detect-job progress", "value") == "100"  # type: ignore[attr-defined]


def test_dev_token_is_not_a_cockpit_session(cockpit: Cockpit) -> None:
    """Only a person's signed-in session opens the cockpit: an API token in a header does not."""
    with httpx.Client(base_url=cockpit.base, headers=DEV, timeout=30, follow_redirects=False) as c:
        r = c.get("/ui/")
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
