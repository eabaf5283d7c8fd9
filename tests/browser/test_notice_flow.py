"""A citizen comments on a pre-appointment notice (任前公示) in headless Chromium, with
JavaScript on: the notice list, the notice, the reporter form with the notice attached and
an optional name, the receipt, and the follow-up. Neither the comment nor the name crosses
the wire in clear; the name is sealed apart from the comment."""

import datetime as dt
import json

import pytest
from sqlalchemy import select

from crypto import envelope as env
from crypto.receipt import ReceiptCode
from whistle.clock import today
from whistle.models import Case, CaseItem, Notice, new_id

pytestmark = pytest.mark.browser

MARKER = "NOTICE-COMMENT-7d1e"
NAME = "实名评论人-4b2a"


def _publish(server) -> Notice:
    day = today("Asia/Shanghai")
    with server.session() as s:
        notice = Notice(
            id=new_id(),
            candidate_name="周候选",
            current_post="交通运输局副局长",
            proposed_post="交通运输局局长",
            department="transport",
            opens_on=day,
            closes_on=day + dt.timedelta(days=10),
            published_on=day,
            published_by="he.ping",
        )
        s.add(notice)
        s.commit()
    return notice


def test_a_citizen_comments_on_a_notice_and_follows_up(server, page):
    notice = _publish(server)
    requests = []
    page.on("request", lambda r: requests.append((r.method, r.url, r.post_data_buffer or b"")))

    page.goto(server.url + "/notices?lang=en")
    assert page.is_visible("text=周候选")
    page.click("a.button:has-text('Comment or report')")
    page.wait_for_url(f"**/report/notice/{notice.id}*")
    page.wait_for_function("document.getElementById('report-form').dataset.enhanced === 'true'")
    assert page.is_visible("text=交通运输局局长")  # the notice is shown on top of the form
    assert page.is_visible("text=named reports are answered")
    page.check("input[name=accused_rank][value=leadership]")
    page.check("input[name=category][value=qualifications]")
    page.select_option("#money_band", "none")
    page.check("input[name=frequency][value=once]")
    page.check("input[name=evidence][value=can_provide]")
    page.fill("#narrative", f"档案年龄有问题 {MARKER}")
    page.fill("#identity_name", NAME)
    page.fill("#identity_contact", "13700000000")
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#receipt-code:not(:empty)", state="visible", timeout=60_000)
    code = ReceiptCode.parse(page.text_content("#receipt-code"))

    bodies = b"\n".join(body for _m, _u, body in requests).decode("utf-8", "replace")
    assert MARKER not in bodies and NAME not in bodies and "13700000000" not in bodies
    assert code.digits[7:] not in bodies
    assert any(m == "POST" and "/api/v1/reports" in u for m, u, _b in requests)

    with server.session() as s:
        case = s.scalar(select(Case))
        assert (case.channel, case.notice_id, case.department, case.real_name) == (
            "notice",
            notice.id,
            "transport",
            True,
        )
        assert case.handling_unit == "org_cadre_supervision"
        items = {i.kind: json.loads(i.envelope) for i in s.scalars(select(CaseItem).where(CaseItem.case_id == case.id))}
    assert set(items) == {"report", "identity"}
    report, _ = env.open_envelope(items["report"], server.keypair)
    identity, _ = env.open_envelope(items["identity"], server.keypair)
    assert MARKER in report["narrative"] and NAME not in json.dumps(report, ensure_ascii=False)
    assert identity == {"name": NAME, "contact": "13700000000"}
    assert items["identity"]["header"] == {"report": items["report"]["nonce"]}
    assert NAME.encode() not in server.database_text()

    # Follow-up with the receipt code, as for any report.
    page.goto(server.url + "/followup?lang=en")
    page.wait_for_function("document.getElementById('code-form').dataset.enhanced === 'true'")
    page.fill("#code", code.grouped())
    page.click("#code-form button[type=submit]")
    page.wait_for_selector("#case-title", timeout=60_000)
    assert page.is_visible("text=The committee should acknowledge your report by")
    page.fill("#message-text", "补充材料")
    page.click("#case-area button[type=submit]")
    page.wait_for_selector("text=Your message was sent.", timeout=60_000)
    with server.session() as s:
        kinds = [
            i.kind
            for i in s.scalars(select(CaseItem).join(Case).where(Case.notice_id == notice.id).order_by(CaseItem.seq))
        ]
    assert kinds == ["report", "identity", "message"]


@pytest.mark.parametrize("lang", ["zh-CN", "en-US"])
def test_notice_pages_have_no_serious_accessibility_violations(server, browser, lang):
    """axe-core on the notice list, an open notice, its comment form (JavaScript off: errors
    shown) and a closed notice's form, on a phone-sized screen."""
    from tests.browser.test_accessibility import AXE, FAILING_IMPACTS, _axe, _block

    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `npm ci`")
    source = AXE.read_text(encoding="utf-8")
    open_notice = _publish(server)
    day = today("Asia/Shanghai")
    with server.session() as s:
        closed = Notice(
            id=new_id(),
            candidate_name="吴候选",
            current_post="水利局副局长",
            proposed_post="水利局局长",
            department="water",
            opens_on=day - dt.timedelta(days=12),
            closes_on=day - dt.timedelta(days=2),
            published_on=day,
            published_by="he.ping",
        )
        s.add(closed)
        s.commit()
    context = browser.new_context(locale=lang, viewport={"width": 360, "height": 740}, bypass_csp=True)
    page = context.new_page()
    failures = []

    def check(name):
        for v in _axe(page, source):
            if v["impact"] in FAILING_IMPACTS:
                failures.append(f"{name}: {v['impact']} {v['id']}: {v['help']} {v['nodes']}")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 360:
            failures.append(f"{name}: scrolls sideways ({width} px)")

    try:
        for path in ("/notices", f"/notices/{open_notice.id}", f"/notices/{closed.id}", f"/report/notice/{closed.id}"):
            page.goto(server.url + path)
            check(path)
        _block(page, "report.js")
        page.goto(server.url + f"/report/notice/{open_notice.id}")
        page.fill("#narrative", "x")
        page.fill("#identity_contact", "13700000000")  # a contact without a name: an error
        page.evaluate("document.getElementById('report-form').noValidate = true")
        page.click("#report-form button[type=submit]")
        page.wait_for_selector("#error-summary")
        check("comment form with errors")
    finally:
        context.close()
    assert not failures, "\n".join(failures)
