"""Sign-in sessions and failure without a browser: idle timeout (the session is revoked, the user is told),
CSRF on every form, bad input and unknown pages answered with a message in the user's language."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from healthbrain.api.app import create_app
from healthbrain.core.settings import Settings
from healthbrain.security import tables as st
from healthbrain.security import totp

PASSWORD = "Cockpit#2026pw"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("HEALTHBRAIN_UI__IDLE_MINUTES", "0.02")  # 1.2 seconds
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'hb.db'}", export_dir=str(tmp_path / "x")))
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def _sign_in(client: TestClient) -> str:
    identity = client.app.state.hb.security.identity  # type: ignore[attr-defined]
    enrol = identity.create_user("nurse-li", PASSWORD, ["clinician", "cdc-officer"], "h1", "dr1")
    form = client.get("/ui/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    r = client.post("/ui/login", data={"csrf": csrf.group(1), "username": "nurse-li", "password": PASSWORD,
                                       "totp": totp(enrol.totp_secret), "next": "/ui/alerts"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/ui/alerts"
    return str(enrol.user_id)


def test_an_idle_session_ends_and_is_revoked(client: TestClient) -> None:
    user = _sign_in(client)
    assert client.get("/ui/").status_code == 200
    time.sleep(1.5)
    r = client.get("/ui/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?expired=1")
    assert "会话已结束，请重新登录" in client.get(r.headers["location"]).text
    engine = client.app.state.hb.security.tokens.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        revoked = (
            conn.execute(select(st.session.c.revoked_at).where(st.session.c.subject == user)).scalars().all()
        )
    assert revoked and all(r is not None for r in revoked)  # the tokens in the cookie are dead too


def test_htmx_requests_of_an_ended_session_are_sent_to_sign_in(client: TestClient) -> None:
    r = client.get("/ui/alerts", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.status_code == 200 and r.headers["HX-Redirect"].startswith("/ui/login")


def test_forms_need_their_csrf_token(client: TestClient) -> None:
    _sign_in(client)
    r = client.post("/ui/logout", data={"csrf": "forged"}, follow_redirects=False)
    assert r.status_code == 403 and "表单已过期" in r.text
    r = client.post("/ui/alerts/00000000-0000-0000-0000-000000000000/ack", follow_redirects=False)
    assert r.status_code == 403
    client.cookies.delete("hb_login")
    r = client.post("/ui/login", data={"csrf": "x", "username": "nurse-li", "password": PASSWORD})
    assert r.status_code == 403 and "登录表单已过期" in r.text


def test_bad_input_and_unknown_pages_read_as_messages(client: TestClient) -> None:
    _sign_in(client)
    cases = [
        ("/ui/patients/bad%24id", 400, "地址中的记录编号无效"),
        ("/ui/patients/nobody-here", 404, "所请求的记录不存在"),
        ("/ui/surveillance?disease=x%3By", 400, "所选项无效"),
        ("/ui/patients?q=" + "张" * 61, 400, "查询内容过长"),
        ("/ui/no-such-page", 404, "驾驶舱没有这个页面"),
    ]
    for path, status, text in cases:
        r = client.get(path)
        assert r.status_code == status, path
        assert text in r.text and "Traceback" not in r.text
    client.cookies.set("hb_lang", "en", path="/ui")
    r = client.get("/ui/no-such-page")
    assert r.status_code == 404 and "There is no cockpit page at this address." in r.text
    assert '<html lang="en">' in r.text


def test_empty_region_shows_empty_states(client: TestClient) -> None:
    _sign_in(client)
    page = client.get("/ui/alerts").text
    assert "没有待确认的告警" in page
    page = client.get("/ui/surveillance").text
    assert "暂无预警信号" in page and "近两年无该病种病例" in page
