"""What a first real user trips over on the reporter's side: the receipt that must be kept,
the code typed with a typo, the timeline that must say only what happened, the footer that
leads to the published figures."""

import datetime as dt

import pytest
from sqlalchemy import select

from crypto.receipt import ReceiptCode
from whistle.cases import store as cases
from whistle.clock import today
from whistle.i18n import file_size
from whistle.models import Case
from whistle.transparency import figures

from tests.browser.conftest import Server
from tests.client_side import seal_report

pytestmark = pytest.mark.browser


def _context(browser, js=True, lang="en-US"):
    return browser.new_context(locale=lang, java_script_enabled=js)


def test_without_javascript_a_typo_keeps_the_digits_typed(server, browser):
    context = _context(browser, js=False)
    page = context.new_page()
    try:
        digits = ReceiptCode.generate().digits
        typo = digits[:-1] + str((int(digits[-1]) + 3) % 10)
        page.goto(server.url + "/followup?lang=en")
        page.fill("#code", typo)
        page.click("#code-form button[type=submit]")
        page.wait_for_selector("#code-error")
        assert "typo" in page.text_content("#code-error")
        assert page.input_value("#code") == typo  # one digit to fix, not 28 to type again
    finally:
        context.close()


SIZES = (0, 1, 58, 1023, 1024, 1536, 20 * 1024 * 1024, 1234567890)


@pytest.mark.parametrize("lang", ["en", "zh_Hans", "zh_Hant"])
def test_file_sizes_read_the_same_on_the_server_and_in_the_browser(server, browser, lang):

    with server.app.test_request_context(f"/?lang={lang}"):
        expected = [file_size(n) for n in SIZES]
    if lang == "en":
        assert expected[2] == "58 bytes" and expected[1] == "1 byte" and expected[6] == "20 MB"
    else:
        assert expected[2] == ("58 字节" if lang == "zh_Hans" else "58 位元組") and expected[6] == "20 MB"
    assert expected[5] == "1.5 KB" and expected[7] == "1.1 GB"
    context = _context(browser)
    page = context.new_page()
    try:
        page.goto(server.url + f"/followup?lang={lang}")
        strings = page.eval_on_selector("#case-strings", "el => ({...el.dataset})")
        shown = page.evaluate(
            """async ([sizes, s]) => {
            const m = await import("/static/js/filesize.js");
            return sizes.map((n) => m.formatSize(n, s.sizeOne, s.sizeOther));
        }""",
            [list(SIZES), strings],
        )
        assert shown == expected
    finally:
        context.close()


@pytest.mark.parametrize("js", [True, False])
def test_a_reporter_sees_a_file_size_in_words_of_their_language(server, browser, js):

    _resp, code, _keys = seal_report(server.app.test_client(), "x")
    with server.session() as s:
        case_id = s.scalar(select(Case.id).where(Case.locator == code.locator))
    reply = server.config.instance_dir / "questions.txt"
    reply.write_bytes(b"q" * 58)
    server.cli("cases", "reply", case_id, "--message", "see file", "--attach", str(reply))
    context = _context(browser, js=js, lang="zh-CN")
    page = context.new_page()
    try:
        page.goto(server.url + "/followup?lang=zh_Hans")
        page.fill("#code", code.grouped())
        page.click("#code-form button[type=submit]")
        page.wait_for_selector("text=see file", timeout=60_000)
        assert page.is_visible("text=下载 questions.txt（58 字节）")
    finally:
        context.close()


def _open_case(page, server, code, js, lang="en"):
    page.goto(server.url + f"/followup?lang={lang}")
    if js:
        page.wait_for_function("document.getElementById('code-form').dataset.enhanced === 'true'")
    page.fill("#code", code.grouped())
    page.click("#code-form button[type=submit]")
    page.wait_for_selector("#steps li", timeout=60_000)


def _steps(page) -> dict:
    return page.eval_on_selector_all(
        "#steps li",
        """items => Object.fromEntries(items.map((li) => [li.dataset.step, {
        cls: li.className, text: li.innerText, current: li.getAttribute("aria-current") === "step"}]))""",
    )


def _decide(server, case_id, disposition):
    with server.session() as s:
        case = s.get(Case, case_id)
        case.disposition = disposition
        cases.add_event(s, case, "disposition", today("Asia/Shanghai"))
        s.commit()


@pytest.mark.parametrize("js", [True, False])
def test_the_timeline_says_only_what_happened(server, browser, js):
    day = today("Asia/Shanghai").isoformat()
    _resp, code, _keys = seal_report(server.app.test_client(), "x")
    with server.session() as s:
        case = s.scalar(select(Case).where(Case.locator == code.locator))
    context = _context(browser, js=js)
    page = context.new_page()
    try:
        _open_case(page, server, code, js)
        steps = _steps(page)
        assert list(steps) == ["received", "acknowledged", "decision", "feedback", "closed"]
        assert f"Done on {day}" in steps["received"]["text"] and "done" in steps["received"]["cls"]
        assert steps["acknowledged"]["current"]
        assert f"acknowledge your report by {case.ack_due.isoformat()}" in steps["acknowledged"]["text"]

        # Acknowledged, then an interim reply: a message, not the feedback on the outcome.
        server.cli("cases", "status", case.id, "acknowledged")
        server.cli("cases", "reply", case.id, "--message", "正在初步核实")
        _open_case(page, server, code, js)
        steps = _steps(page)
        assert f"Done on {day}" in steps["acknowledged"]["text"]
        assert "acknowledge your report by" not in page.inner_text("#steps")  # no deadline on a step taken
        assert steps["decision"]["current"] and "Not yet" in steps["decision"]["text"]
        assert "done" not in steps["feedback"]["cls"]
        assert f"receive feedback by {case.feedback_due.isoformat()}" in steps["feedback"]["text"]
        assert page.is_visible("text=正在初步核实")  # in the conversation

        # The decision, in the reporter's words; then the reply that tells the outcome.
        _decide(server, case.id, "conclude")
        server.cli("cases", "reply", case.id, "--message", "已了结")
        _open_case(page, server, code, js)
        steps = _steps(page)
        assert (
            "looked into and concluded" in steps["decision"]["text"] and f"Done on {day}" in steps["decision"]["text"]
        )
        assert f"Done on {day}" in steps["feedback"]["text"] and "feedback by" not in steps["feedback"]["text"]
        assert steps["closed"]["current"]
    finally:
        context.close()


def test_a_decision_under_way_is_withheld_from_the_reporter(server, browser):

    _resp, code, _keys = seal_report(server.app.test_client(), "x")
    with server.session() as s:
        case_id = s.scalar(select(Case.id).where(Case.locator == code.locator))
    _decide(server, case_id, "transfer_investigation")
    context = _context(browser)
    page = context.new_page()
    try:
        _open_case(page, server, code, js=True)
        text = _steps(page)["decision"]["text"]
        assert "does not show this decision" in text and "investigation" not in text.lower()
    finally:
        context.close()


def _send_report(page, server, js, lang="en"):
    page.goto(server.url + f"/report/contractor?lang={lang}")
    if js:
        page.wait_for_function("document.getElementById('report-form').dataset.enhanced === 'true'")
    page.select_option("#department", "housing")
    for name, value in (
        ("accused_rank", "head"),
        ("category", "gifts"),
        ("frequency", "regular"),
        ("evidence", "attached"),
    ):
        page.check(f"input[name={name}][value={value}]")
    page.select_option("#money_band", "10k_100k")
    page.fill("#narrative", "x")
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#receipt-code:not(:empty)", state="visible", timeout=60_000)
    return ReceiptCode.parse(page.text_content("#receipt-code"))


@pytest.mark.parametrize("js", [True, False])
def test_the_receipt_is_kept_before_the_follow_up_link_appears(server, browser, js):
    context = _context(browser, js=js)
    page = context.new_page()
    try:
        code = _send_report(page, server, js)
        # What the code opens, and what it does not.
        assert "replies and messages" in page.inner_text("#receipt-opens")
        assert "only the committee can read it" in page.inner_text("#receipt-not-opens")
        assert not page.is_visible("#receipt-followup")
        page.check("#receipt-kept")
        assert page.is_visible("#receipt-followup")
        # Printed: the code and where to come back, nothing else of the page.
        page.emulate_media(media="print")
        assert page.is_visible("#receipt-code") and page.is_visible(".receipt-addresses")
        assert server.url + "/followup" in page.inner_text(".receipt-addresses")
        for hidden in (
            "#receipt-help",
            "#receipt-kept",
            "#receipt-tools",
            "header.site",
            "footer.site",
            "#receipt-title",
        ):
            assert not page.is_visible(hidden), hidden
        page.emulate_media(media="screen")
        assert page.is_visible("#receipt-tools") == js  # copy and print buttons need JavaScript
        page.click("#receipt-followup")
        page.wait_for_selector("#code-form")
        assert code.digits[7:] not in page.content()
    finally:
        context.close()


def test_the_receipt_code_can_be_copied_and_leaving_is_warned_until_kept(server, browser):
    context = _context(browser)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        code = _send_report(page, server, js=True)
        page.click("#receipt-copy")
        page.wait_for_selector("#receipt-tool-status:has-text('copied')")
        assert ReceiptCode.parse(page.evaluate("navigator.clipboard.readText()")).digits == code.digits
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0  # never stored
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.type), d.dismiss()))
        page.close(run_before_unload=True)  # dismissed: the page stays
        page.wait_for_timeout(500)
        assert dialogs == ["beforeunload"] and not page.is_closed()
        page.check("#receipt-kept")
        with page.expect_event("close", timeout=5_000):  # kept: no question asked
            page.close(run_before_unload=True)
        assert dialogs == ["beforeunload"]
    finally:
        context.close()


@pytest.mark.parametrize("js", [True, False])
def test_forget_this_case_clears_the_page(server, browser, js):

    _resp, code, _keys = seal_report(server.app.test_client(), "x")
    with server.session() as s:
        case_id = s.scalar(select(Case.id).where(Case.locator == code.locator))
    server.cli("cases", "reply", case_id, "--message", "REPLY-TO-FORGET")
    context = _context(browser, js=js)
    page = context.new_page()
    try:
        _open_case(page, server, code, js)
        assert page.is_visible("text=REPLY-TO-FORGET")
        page.click("#forget-case")
        page.wait_for_selector("#code-form", state="visible")
        html = page.content()
        assert "REPLY-TO-FORGET" not in html and code.digits[7:] not in html.replace(" ", "")
        assert page.input_value("#code") == ""
        if js:
            assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    finally:
        context.close()


FOOTED_PAGES = ("/", "/report/contractor", "/report/general", "/followup", "/notices", "/transparency")


def test_every_public_page_leads_to_the_published_figures(server, browser):
    context = _context(browser, js=False)
    page = context.new_page()
    try:
        for path in FOOTED_PAGES:
            page.goto(server.url + path + "?lang=en")
            assert page.get_attribute("footer.site #footer-transparency", "href").startswith("/transparency"), path
        code = _send_report(page, server, js=False)  # the receipt page too
        assert code and page.is_visible("footer.site #footer-transparency")
        page.click("footer.site #footer-transparency")
        page.wait_for_selector("#statistics")
    finally:
        context.close()


def test_with_no_complete_month_the_figures_page_explains_instead_of_charting_zeros(server, browser):

    figures.forget()
    context = _context(browser)
    page = context.new_page()
    try:
        page.goto(server.url + "/transparency?lang=en")
        assert page.is_visible("#statistics-empty")
        assert page.locator("svg.chart").count() == 0
        assert "someone who reports" in page.inner_text("#statistics-meaning")
        assert page.evaluate("document.body.scrollHeight") < 4000
    finally:
        context.close()


def test_a_few_reports_show_as_figures_not_as_empty_charts(server, browser):
    _resp, code, _keys = seal_report(server.app.test_client(), "x")
    last_month = today("Asia/Shanghai").replace(day=1) - dt.timedelta(days=3)
    with server.session() as s:
        s.scalar(select(Case).where(Case.locator == code.locator)).received_on = last_month
        s.commit()
    figures.forget()
    context = _context(browser)
    page = context.new_page()
    try:
        page.goto(server.url + "/transparency?lang=en")
        assert not page.is_visible("#statistics-empty")
        assert "fewer than" in page.inner_text("#table-by-channel")  # the one figure there is
        assert page.locator("svg.chart").count() == 0  # nothing a chart could show
        assert page.locator("#table-category-general").count() == 0  # no section for a channel with no report
    finally:
        context.close()
        figures.forget()


def test_the_printed_receipt_names_the_configured_addresses(browser, tmp_path):

    srv = Server(
        tmp_path,
        public_url="https://jubao.example.gov.cn",
        onion_url="http://whistleexampleonionaddressxxxxxxxxxxxxxxxxxxxxxxxxxx.onion",
    )
    context = _context(browser, js=False)
    page = context.new_page()
    try:
        _send_report(page, srv, js=False)
        page.emulate_media(media="print")
        printed = page.inner_text(".receipt-addresses")
        assert "https://jubao.example.gov.cn/followup" in printed
        assert "http://whistleexampleonionaddressxxxxxxxxxxxxxxxxxxxxxxxxxx.onion/followup" in printed
        assert srv.url not in printed
    finally:
        context.close()
        srv.stop()
