"""Language choice: Accept-Language or an explicit ?lang= link, never a cookie."""

import re

import pytest


@pytest.mark.parametrize(
    "header, lang",
    [
        ("zh-CN,zh;q=0.9", "zh-Hans"),
        ("zh-TW", "zh-Hant"),
        ("zh-HK,en;q=0.5", "zh-Hant"),
        ("en-US,en;q=0.8", "en"),
        ("fr-FR", "zh-Hans"),
        ("", "zh-Hans"),
        ("zh-Hant-TW", "zh-Hant"),
        # q=0 says "not this one"; a script subtag says which script, whatever comes before it.
        ("fr, en;q=0", "zh-Hans"),
        ("en;q=0, zh-TW", "zh-Hant"),
        ("zh-TW;q=0, en", "en"),
        ("cmn-Hant-TW", "zh-Hant"),
        ("cmn-CN", "zh-Hans"),
        ("yue-HK", "zh-Hant"),
        ("zh-Hans-HK", "zh-Hans"),
    ],
)
def test_accept_language_picks_the_interface_language(client, header, lang):
    html = client.get("/", headers={"Accept-Language": header}).get_data(as_text=True)
    assert f'<html lang="{lang}">' in html


def test_explicit_language_sticks_on_links_without_a_cookie(client):
    resp = client.get("/?lang=en", headers={"Accept-Language": "zh-CN"})
    html = resp.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Set-Cookie" not in resp.headers
    links = re.findall(r'href="(/report/[a-z]+[^"]*)"', html)
    assert links and all("lang=en" in link for link in links)
    # ...and the next request without ?lang falls back to the header again: nothing was stored.
    assert '<html lang="zh-Hans">' in client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)


def test_unknown_lang_parameter_is_ignored(client):
    assert '<html lang="zh-Hans">' in client.get("/?lang=xx").get_data(as_text=True)


def test_errors_come_in_the_readers_language(client):
    en = client.get("/no/such/page", headers={"Accept-Language": "en"})
    zh = client.get("/no/such/page", headers={"Accept-Language": "zh-CN"})
    assert en.status_code == zh.status_code == 404
    assert "There is nothing at this address." in en.get_data(as_text=True)
    assert "There is nothing at this address." not in zh.get_data(as_text=True)
    api = client.get("/api/v1/receipts/12/salt", headers={"Accept-Language": "zh-TW"})
    assert api.status_code == 400 and api.get_json()["message"] != ""


@pytest.mark.parametrize(
    "method, path",
    [
        ("put", "/"),
        ("delete", "/followup"),
        ("get", "/report/unknown"),
        ("post", "/report/unknown"),
        ("get", "/api/v1/nothing"),
    ],
)
def test_odd_requests_get_4xx_pages_not_500(client, method, path):
    resp = getattr(client, method)(path)
    assert 400 <= resp.status_code < 500
    assert "Traceback" not in resp.get_data(as_text=True)
