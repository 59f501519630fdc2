"""What a failing or missing page shows under the settings ``make run`` and deployments use: Loupe's
own page with nothing about the server, security headers on every answer, cookies set right, and
JSON under ``/api/``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
LEAKS = ("Traceback", "secret-detail-that-must-not-leak", "SECRET_KEY", "DATABASES", "Request Method",
         "URLconf", "Django", "settings", "/work/")


def _headers(response) -> dict:
    return {name: response.headers.get(name) for name in SECURITY_HEADERS}


def _leaks(text: str) -> list[str]:
    return [word for word in LEAKS if word in text]


@pytest.mark.urls("tests.core.error_urls")
def test_a_failing_page_is_loupes_500_page_rendered_without_the_database():
    """No ``db`` fixture: any query while answering would raise, so the 500 page needs no database."""
    client = Client(raise_request_exception=False)

    page = client.get("/fail")
    api = client.get("/api/v1/fail")

    assert (page.status_code, page["Content-Type"]) == (500, "text/html; charset=utf-8")
    text = page.content.decode()
    assert "<title>Server error · Loupe</title>" in text
    assert "Something went wrong on our side; it has been logged." in text
    assert _leaks(text) == []
    assert _headers(page) == SECURITY_HEADERS
    assert (api.status_code, api.json()) == (500, {"detail": "Something went wrong on our side; it has been logged."})
    assert _headers(api) == SECURITY_HEADERS


@pytest.mark.urls("tests.core.error_urls")
def test_missing_pages_and_routes_answer_loupes_404_over_http(live_server, transactional_db):
    page = requests.get(f"{live_server.url}/no/such/page", timeout=30)
    api = requests.get(f"{live_server.url}/api/v1/no-such-route", timeout=30)
    encord = requests.get(f"{live_server.url}/v2/public/no-such-route", timeout=30)
    failing = requests.get(f"{live_server.url}/fail", timeout=30)
    login = requests.get(f"{live_server.url}/login/", timeout=30)
    refused = requests.get(f"{live_server.url}/login/?next=%00", timeout=30)  # the request guard's own 400

    assert page.status_code == 404
    assert "<title>Not found · Loupe</title>" in page.text
    assert "This page does not exist, or you are not allowed to see it." in page.text
    assert _leaks(page.text) == []
    assert _headers(page) == SECURITY_HEADERS
    assert (api.status_code, api.json(), _headers(api)) == (404, {"detail": "Not found."}, SECURITY_HEADERS)
    assert (encord.status_code, encord.json()) == (404, {"message": "Not found."})
    assert failing.status_code == 500 and _leaks(failing.text) == [] and _headers(failing) == SECURITY_HEADERS
    assert (refused.status_code, _headers(refused)) == (400, SECURITY_HEADERS)
    assert "The query string contains a NUL character (%00)." in refused.text and _leaks(refused.text) == []
    csrf_cookie = next(c for c in login.cookies if c.name == "csrftoken")
    assert (csrf_cookie.has_nonstandard_attr("HttpOnly"), csrf_cookie.get_nonstandard_attr("SameSite"),
            csrf_cookie.secure) == (True, "Lax", False)


def _settings(module: str, **env) -> dict:
    """Security settings as ``module`` computes them in a fresh process with ``env``."""
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps({k: getattr(s, k)"
        " for k in ('DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY',"
        " 'CSRF_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE', 'CSRF_COOKIE_SAMESITE', 'SECURE_HSTS_SECONDS',"
        " 'SECURE_PROXY_SSL_HEADER', 'X_FRAME_OPTIONS', 'SECURE_CONTENT_TYPE_NOSNIFF', 'SECURE_REFERRER_POLICY',"
        " 'SECURE_CROSS_ORIGIN_OPENER_POLICY')}))"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("LOUPE_DEBUG", "LOUPE_HTTPS", "DJANGO_SECURE_COOKIES")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=base | {"DJANGO_SETTINGS_MODULE": module, "DJANGO_SECRET_KEY": "x" * 50} | env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_make_run_settings_are_production_grade_unless_a_developer_asks():
    common = {"SESSION_COOKIE_HTTPONLY": True, "CSRF_COOKIE_HTTPONLY": True, "SESSION_COOKIE_SAMESITE": "Lax",
              "CSRF_COOKIE_SAMESITE": "Lax", "X_FRAME_OPTIONS": "DENY", "SECURE_CONTENT_TYPE_NOSNIFF": True,
              "SECURE_REFERRER_POLICY": "same-origin", "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin"}
    plain_http = {"SESSION_COOKIE_SECURE": False, "CSRF_COOKIE_SECURE": False, "SECURE_HSTS_SECONDS": 0,
                  "SECURE_PROXY_SSL_HEADER": None}
    https = {"SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SECURE_HSTS_SECONDS": 31536000,
             "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"]}

    assert _settings("config.settings.local") == {"DEBUG": False, **common, **plain_http}
    assert _settings("config.settings.local", LOUPE_DEBUG="1")["DEBUG"] is True
    assert _settings("config.settings.local", LOUPE_HTTPS="1") == {"DEBUG": False, **common, **https}
    assert _settings("config.settings.production") == {"DEBUG": False, **common, **https}
    assert _settings("config.settings.production", LOUPE_HTTPS="0", LOUPE_DEBUG="1") == {
        "DEBUG": False, **common, **plain_http}
