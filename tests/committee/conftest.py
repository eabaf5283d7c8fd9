"""Committee fixtures: members enrolled through the real enrolment page (their keys made with
the same crypto library the browser twin mirrors), logged in with real TOTP codes."""

import re
import time
from dataclasses import dataclass

import pyotp
import pytest
from sqlalchemy.orm import Session

from crypto import keyfile
from crypto.encoding import b64u
from crypto.keys import KeyPair
from whistle.committee import members
from whistle.clock import today
from whistle.services import services

from tests.helpers import forget_used_totp_steps

PASSWORD = "a long login password"
KEY_PASSPHRASE = "a different key passphrase"
HTTPS = {"wsgi.url_scheme": "https", "HTTP_HOST": "localhost", "HTTP_ACCEPT_LANGUAGE": "en"}  # tests read English text


def csrf_of(html: str) -> str:
    """The CSRF token of a committee page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


@dataclass
class Person:
    """An enrolled member as the tests drive them."""

    username: str
    keypair: KeyPair | None
    totp: str
    client: object

    def code(self, ahead: int = 1) -> str:
        """A TOTP code for a later step than any used so far (codes are single-use)."""
        return pyotp.TOTP(self.totp).at(time.time() + 30 * ahead)

    def csrf(self, path="/committee/") -> str:
        # (an admin's home redirects to Members: the token is read where it lands)
        return csrf_of(self.client.get(path, follow_redirects=True).get_data(as_text=True))

    def post(self, path, data=None, **kw):
        data = dict(data or {}, csrf_token=self.csrf())
        return self.client.post(path, data=data, **kw)

    def api(self, method, path, **kw):
        headers = dict(kw.pop("headers", {}), **{"X-CSRFToken": self.csrf()})
        return getattr(self.client, method)(path, headers=headers, **kw)


def enrol(app, username: str, token: str | None = None) -> Person:
    """Invite ``username`` (or use the invitation ``token`` an admin made), enrol through the
    page, log in with TOTP."""
    client = app.test_client()
    client.environ_base.update(HTTPS)
    if token is None:
        with Session(services(app).engine) as s:
            token = members.invite(s, username, today("Asia/Shanghai"))
            s.commit()
    page = client.get(f"/committee/enrol/{token}")
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    html = page.get_data(as_text=True)
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', html).group(1)
    rule = services(app).rules.member(username)
    data = {"csrf_token": csrf_of(html), "password": PASSWORD, "password2": PASSWORD, "totp": pyotp.TOTP(secret).now()}
    keypair = None
    if rule.role in ("member", "unit_lead"):
        keypair = KeyPair.generate()
        data["public_key"] = b64u(keypair.public)
        data["wrapped_key"] = keyfile.wrap(keypair, KEY_PASSPHRASE, opslimit=1, memlimit=8 * 1024 * 1024)
    resp = client.post(f"/committee/enrol/{token}", data=data)
    assert resp.status_code == 200 and 'id="fingerprint"' in resp.get_data(as_text=True), resp.get_data(as_text=True)[
        :3000
    ]
    mark_confirmed(app, username)
    person = Person(username, keypair, secret, client)
    login(person)
    return person


def mark_confirmed(app, username: str) -> None:
    """A shortcut for fixtures only: mark the enrolment confirmed as a second person would
    (tests/committee/test_enrolment.py drives the real two-person confirmation)."""
    from sqlalchemy import select

    from whistle.models import Member

    with Session(services(app).engine) as s:
        account = s.scalar(select(Member).where(Member.username == username))
        account.confirmed_on = today("Asia/Shanghai")
        s.commit()


def login(person: Person, ahead: int = 1, app=None):
    """Log in through the form. With ``app``, first forget the last used TOTP step: only a
    test can do that, to log in again within the same 30-second window."""
    if app is not None:
        forget_used_totp_steps(app)
    html = person.client.get("/committee/login").get_data(as_text=True)
    resp = person.client.post(
        "/committee/login",
        data={
            "csrf_token": csrf_of(html),
            "username": person.username,
            "password": PASSWORD,
            "totp": person.code(ahead),
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    return resp


@pytest.fixture
def people(app, committee):
    """The example rules' members that the tests use, enrolled (committee key registered)."""
    return {name: enrol(app, name) for name in ("zhao.lei", "li.na", "zhang.wei", "liu.yang", "ma.lin")}


@pytest.fixture
def unhandled():
    """What tests.test_fuzz.check reads: the lines the app logs as unhandled, collected."""
    import logging

    from tests.test_fuzz import _Unhandled

    handler = _Unhandled()
    logging.getLogger("whistle").addHandler(handler)
    yield {"unhandled": handler}
    logging.getLogger("whistle").removeHandler(handler)
