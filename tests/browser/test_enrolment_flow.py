"""Two-person enrolment in headless Chromium: the first admin is invited and confirmed on the
console; the admin invites a member on the Members page; the member's browser makes their
key and shows its fingerprint; the overseer types the groups the member reads to them (a
wrong group is refused); only then is the member sealed a new report's key."""

import re
import time

import pyotp
import pytest
from sqlalchemy import select

from crypto import envelope as env
from crypto.keys import fingerprint, kid
from whistle.cases.store import item_envelope as env_of
from whistle.models import Case, CaseGrant, CaseItem, Member

from tests.client_side import seal_report
from tests.committee.test_workspace import HOUSING

pytestmark = pytest.mark.browser

PASSWORD = "login password, twelve+"
KEY_PASSPHRASE = "key passphrase, twelve+"


def _enrol(page, link, needs_key):
    """Fill in the enrolment page; returns the TOTP secret. The page after it is the waiting one."""
    page.goto(link + "?lang=en")
    secret = page.text_content("#totp-secret").strip()
    page.fill("#password", PASSWORD)
    page.fill("#password2", PASSWORD)
    page.fill("#totp", pyotp.TOTP(secret).now())
    if needs_key:
        page.fill("#key_passphrase", KEY_PASSPHRASE)
        page.fill("#key_passphrase2", KEY_PASSPHRASE)
    page.click("text=Finish enrolment")
    page.wait_for_selector("#fingerprint", timeout=60_000)
    return secret


def _login(page, server, username, secret):
    page.goto(f"{server.url}/committee/login?lang=en")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.fill("#totp", pyotp.TOTP(secret).at(time.time() + 30))  # the enrolment used the current code
    page.click("button:has-text('Log in')")
    # A member lands on their cases, an admin on Members.
    page.wait_for_url(re.compile(r".*/committee/(admin/members)?(\?.*)?$"))


def _link(output: str) -> str:
    return output.strip().replace("http://127.0.0.1:5000", "")


def test_two_person_enrolment_with_fingerprint(server, browser):
    contexts = [browser.new_context(locale="en-US") for _ in range(3)]
    admin, overseer, member = (c.new_page() for c in contexts)

    # The first admin: invited and confirmed on the console (nobody could confirm them yet).
    admin_secret = _enrol(admin, server.url + _link(server.cli("members", "invite", "ma.lin")), needs_key=False)
    groups = admin.text_content("#fingerprint").strip()
    assert re.fullmatch(r"\d{5}( \d{5}){4}", groups)
    assert "not confirmed: fingerprint" in _failing_cli(
        server, "members", "confirm", "ma.lin", "--fingerprint", "00000"
    )
    server.cli("members", "confirm", "ma.lin", "--fingerprint", groups)
    _login(admin, server, "ma.lin", admin_secret)

    # The overseer, invited on the console and confirmed by the admin with their own code.
    overseer_secret = _enrol(overseer, server.url + _link(server.cli("members", "invite", "gao.feng")), needs_key=False)
    server.cli(
        "members",
        "confirm",
        "gao.feng",
        "--by",
        "ma.lin",
        "--fingerprint",
        overseer.text_content("#fingerprint"),
        input=pyotp.TOTP(admin_secret).now() + "\n",
    )
    _login(overseer, server, "gao.feng", overseer_secret)

    # The admin invites a member on the Members page.
    admin.goto(f"{server.url}/committee/admin/members?lang=en")
    admin.click("tr:has(td:text-is('zhao.lei')) button:has-text('Invite')")
    link = admin.text_content("#invite-link").strip()
    _enrol(member, server.url + "/committee/" + link.split("/committee/", 1)[1], needs_key=True)
    shown = member.text_content("#fingerprint").strip()  # computed by this browser from its key
    assert member.is_hidden("#fingerprint-mismatch")
    assert member.text_content("#confirmers") == "gao.feng"  # not the inviter
    with server.session() as s:
        account = s.scalar(select(Member).where(Member.username == "zhao.lei"))
        assert shown == fingerprint(bytes(account.public_key)) and account.confirmed_on is None
        zhao_kid = kid(bytes(account.public_key))

    # The inviter is not offered the confirmation; the overseer is, and types the groups.
    admin.goto(f"{server.url}/committee/enrolments?lang=en")
    assert admin.locator("#nothing-to-confirm").count() == 1
    overseer.goto(f"{server.url}/committee/enrolments?lang=en")
    overseer.fill("#fingerprint-zhao\\.lei", f"{(int(shown[:5]) + 1) % 100000:05d}" + shown[5:])
    overseer.click("tr:has(td:text-is('zhao.lei')) button:has-text('Confirm')")
    overseer.wait_for_selector("#confirm-error")
    assert zhao_kid not in _sealed_to(server, "BEFORE-CONFIRMATION")
    overseer.fill("#fingerprint-zhao\\.lei", shown)
    overseer.click("tr:has(td:text-is('zhao.lei')) button:has-text('Confirm')")
    overseer.wait_for_selector("text=zhao.lei is confirmed")
    assert zhao_kid in _sealed_to(server, "AFTER-CONFIRMATION")
    for context in contexts:
        context.close()


def _failing_cli(server, *args) -> str:
    """The output of a console command that must fail."""
    from click.testing import CliRunner

    from whistle.cli import main as cli
    from tests.conftest import KEY_PASSPHRASE as COMMITTEE_PASSPHRASE

    env_vars = {
        "WHISTLE_INSTANCE_DIR": str(server.config.instance_dir),
        "WHISTLE_DATABASE_URL": server.config.database_url,
        "WHISTLE_PASSPHRASE": COMMITTEE_PASSPHRASE,
    }
    result = CliRunner().invoke(cli, list(args), env=env_vars)
    assert result.exit_code != 0
    return result.output


def _sealed_to(server, marker) -> set[str]:
    """Submit a report as the reporter's browser would; the key ids of the members it was
    sealed to and granted to (both must agree)."""
    resp, code, _keys = seal_report(server.app.test_client(), marker, header=HOUSING)
    assert resp.status_code == 201, resp.get_json()
    with server.session() as s:
        case = s.scalar(select(Case).where(Case.locator == code.locator))
        item = s.scalar(select(CaseItem).where(CaseItem.case_id == case.id, CaseItem.kind == "report"))
        sealed = set(env.recipient_kids(env_of(item)))
        granted = {
            kid(bytes(k))
            for k in s.scalars(
                select(Member.public_key)
                .join(CaseGrant, CaseGrant.member_id == Member.id)
                .where(CaseGrant.case_id == case.id)
            )
        }
    assert granted <= sealed
    return granted
