"""Member-written public text (a survey's introduction): escaped, line breaks kept, web
addresses linked with rel="noopener noreferrer nofollow", and nothing else a member types
becomes markup, however hostile."""

import re

import pytest
from sqlalchemy.orm import Session

from whistle.linkify import linkify_text
from whistle.models import Survey
from whistle.services import services

from tests.committee.conftest import enrol
from tests.test_surveys import make_survey

REL = 'rel="noopener noreferrer nofollow"'

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">click</a>',
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1) data:text/html;base64,PHNjcmlwdD4= vbscript:msgbox(1)",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<style>body{display:none}</style><iframe src=//evil.example>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",  # already escaped: shown as typed, never decoded
    "<!-- -->--><script>alert(1)</script>",
    '"><script>alert(1)</script>',
    "<a href='http://evil.example' onclick='steal()'>x</a>",
    'http://example.com/"onmouseover="alert(1)',
    "http://example.com/'onmouseover='alert(1)",
    "http://example.com/<script>alert(1)</script>",
    "ftp://files.example.org file:///etc/passwd //evil.example/x",
    "http://[::1]/ http://127.0.0.1:5000/committee",
]


def _tags(html: str) -> list[str]:
    return re.findall(r"<\s*([a-zA-Z]+)", html)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markup_stays_text(text):
    html = str(linkify_text(text))
    # The only markup is links to http(s) addresses, with the rel attribute and nothing else.
    assert set(_tags(html)) <= {"a"}, html
    for attrs in re.findall(r"<a ([^>]*)>", html):
        assert re.fullmatch(r'href="https?://[^"<>\s]+" ' + REL, attrs), html
    for word in ("javascript:", "data:", "vbscript:", "onerror=", "onclick=", "onmouseover="):
        assert not re.search(r'href="[^"]*' + re.escape(word), html, re.I), html
    assert "<script" not in html and "<img" not in html and "<iframe" not in html


def test_markup_is_shown_as_typed():
    assert (
        str(linkify_text('<b>bold</b> & <i>"x"</i>')) == "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;&#34;x&#34;&lt;/i&gt;"
    )
    assert str(linkify_text("&lt;")) == "&amp;lt;"


def test_web_addresses_become_links_and_end_where_the_address_ends():
    html = str(linkify_text("见https://example.org/a?x=1&y=2。谢谢"))
    assert html == f'见<a href="https://example.org/a?x=1&amp;y=2" {REL}>https://example.org/a?x=1&amp;y=2</a>。谢谢'
    onion = "http://" + "a" * 56 + ".onion/report"
    assert str(linkify_text(f"Tor: {onion}.")) == f'Tor: <a href="{onion}" {REL}>{onion}</a>.'
    assert (
        str(linkify_text("(see HTTPS://Example.COM:8443/x#top)"))
        == f'(see <a href="HTTPS://Example.COM:8443/x#top" {REL}>HTTPS://Example.COM:8443/x#top</a>)'
    )
    # Bare domains, e-mail addresses and other schemes stay text.
    for text in ("example.org", "www.example.org", "someone@example.org", "ftp://example.org"):
        assert "<a" not in str(linkify_text(text)), text


def test_line_breaks_are_kept_and_nothing_else_is_added():
    assert str(linkify_text("one\ntwo\r\nthree\rfour")) == "one<br>\ntwo<br>\nthree<br>\nfour"
    assert str(linkify_text("")) == "" and str(linkify_text(None)) == ""


def test_a_survey_introduction_is_rendered_through_it(app, client, committee):
    survey_id = make_survey(app)
    with Session(services(app).engine) as s:
        s.get(Survey, survey_id).intro = "Line one <script>alert(1)</script>\nDetails: https://example.org/help."
        s.commit()
    shown = (
        "Line one &lt;script&gt;alert(1)&lt;/script&gt;<br>\nDetails: "
        f'<a href="https://example.org/help" {REL}>https://example.org/help</a>.'
    )
    for html in (
        client.get(f"/surveys/{survey_id}").get_data(as_text=True),
        enrol(app, "zhao.lei").client.get(f"/committee/surveys/{survey_id}").get_data(as_text=True),
    ):
        assert shown in html
        assert "<script>alert(1)" not in html
