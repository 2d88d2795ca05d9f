"""Web sign-in without a browser: bad keys, open redirects, revoked keys, sign-out and its CSRF token."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from livevault.services.access import AccessService
from livevault.services.viewing import SESSION_COOKIE

ANONYMOUS = {"X-API-Key": ""}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(api: TestClient, key: str, next_path: str = "/") -> str:
    response = api.post("/ui/signin", data={"api_key": key, "next": next_path}, headers=ANONYMOUS,
                        follow_redirects=False)
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    return str(response.headers["location"])


def test_a_wrong_key_is_refused_and_nothing_is_set(api: TestClient) -> None:
    response = api.post("/ui/signin", data={"api_key": "nope"}, headers=ANONYMOUS, follow_redirects=False)
    assert response.status_code == 403
    assert "not valid" in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_sign_in_only_returns_to_local_pages(api: TestClient) -> None:
    assert sign_in(api, "test-key", "/ui/watchers") == "/ui/watchers"
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        api.cookies.clear()
        assert sign_in(api, "test-key", evil) == "/"


def test_a_revoked_key_ends_its_session(api: TestClient) -> None:
    sign_in(api, "other-key")
    assert api.get("/ui/system", headers=ANONYMOUS).status_code == 200
    api.app.state.container.access = AccessService(["test-key"])  # type: ignore[attr-defined]
    response = api.get("/ui/system", headers=ANONYMOUS, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/signin?next=%2Fui%2Fsystem")


def test_sign_out_needs_the_token_and_ends_the_session(api: TestClient) -> None:
    sign_in(api, "test-key")
    page = api.get("/", headers=ANONYMOUS)
    assert api.post("/ui/signout", data={}, headers=ANONYMOUS).status_code == 403
    out = api.post("/ui/signout", data={"csrf": csrf_of(page.text)}, headers=ANONYMOUS, follow_redirects=False)
    assert out.status_code == 303
    assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    api.cookies.clear()
    assert api.get("/", headers=ANONYMOUS, follow_redirects=False).status_code == 303


def test_a_tampered_cookie_is_no_session(api: TestClient) -> None:
    sign_in(api, "test-key")
    value = api.cookies[SESSION_COOKIE].strip('"')
    api.cookies.clear()
    api.cookies.set(SESSION_COOKIE, value[:-6] + "AAAAAA")
    assert api.get("/", headers=ANONYMOUS, follow_redirects=False).status_code == 303


def test_a_watcher_form_error_shows_the_code(api: TestClient) -> None:
    sign_in(api, "test-key")
    token = csrf_of(api.get("/ui/watchers", headers=ANONYMOUS).text)
    response = api.post("/ui/watchers", data={"csrf": token, "target": "not a target!"}, headers=ANONYMOUS)
    assert response.status_code == 400
    assert "VALIDATION_ERROR" in response.text
    response = api.post("/ui/watchers", data={"csrf": token, "target": "file:///etc/passwd"}, headers=ANONYMOUS)
    assert response.status_code == 400
