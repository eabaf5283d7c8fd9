"""Accessibility of the reporter's pages in headless Chromium, checked with axe-core.

Every page a reporter sees (home, both report forms, follow-up, the receipt and the case
page, each reached with JavaScript and without it, and the no-JavaScript error pages) is
checked against WCAG 2.0/2.1 A and AA plus axe's best practices, in Simplified Chinese and
English, on a 360 px phone and on a desktop; any "serious" or "critical" violation fails.
The small screen must not scroll sideways. A keyboard-only journey fills and sends the
contractor form.

axe-core comes from node_modules (package-lock.json, `npm ci`).
"""

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from crypto.receipt import ReceiptCode
from whistle.custody import offline
from whistle.clock import today
from whistle.config import PROJECT_DIR
from whistle.models import Case
from whistle.security.privacy import QuietRequestHandler
from whistle.services import services

from tests.conftest import KEY_PASSPHRASE, build_app, make_config

pytestmark = pytest.mark.browser

AXE = PROJECT_DIR / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
FAILING_IMPACTS = {"serious", "critical"}
LANGUAGES = {"zh_Hans": "zh-CN", "en": "en-US"}
VIEWPORTS = {"phone": {"width": 360, "height": 740}, "desktop": {"width": 1280, "height": 900}}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The app with a committee key on a real port; rate limits off (every page of every
    language and size is submitted from the same address)."""
    tmp = tmp_path_factory.mktemp("a11y")
    app = build_app(make_config(tmp, extra={"ratelimit": False}))
    with Session(services(app).engine) as s:
        offline.init_keys(
            s,
            tmp / "committee.key",
            KEY_PASSPHRASE,
            "committee",
            today("Asia/Shanghai"),
            opslimit=1,
            memlimit=8 * 1024 * 1024,
        )
        s.commit()
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_port}", app=app, tmp=tmp)
    httpd.shutdown()
    thread.join(10)
    httpd.server_close()
    services(app).engine.dispose()


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `npm ci` (axe-core is pinned in package-lock.json)")
    return AXE.read_text(encoding="utf-8")


def _context(browser, lang: str, viewport: dict):
    # bypass_csp: axe-core has to be injected into the page, and the app's strict CSP
    # (script-src 'self', no inline script) refuses injected scripts, as it should. Only
    # this test lifts it; every other browser test runs under the real policy.
    return browser.new_context(locale=LANGUAGES[lang], viewport=viewport, bypass_csp=True)


def _axe(page, axe_source: str) -> list:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source)
    return page.evaluate(
        """async (tags) => {
        const result = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                                resultTypes: ["violations"]});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(" ") + " :: " + (n.failureSummary || "")
                                          .replace(/\\s+/g, " "))}));
    }""",
        TAGS,
    )


def _fill_report(page) -> None:
    page.select_option("#department", "housing")
    page.check("input[name=accused_rank][value=head]")
    page.check("input[name=category][value=gifts]")
    page.select_option("#money_band", "10k_100k")
    page.check("input[name=frequency][value=regular]")
    page.check("input[name=evidence][value=attached]")
    page.fill("#narrative", "他要求我请客吃饭 accessibility")


def _block(page, script: str) -> None:
    """The no-JavaScript path, with JavaScript still on for axe: the page's own script is
    not delivered, so the form is never taken over and posts to the server."""
    page.route(f"**/static/js/{script}", lambda route: route.abort())


def _reply(site, code: ReceiptCode) -> None:
    """The committee answers, with a file: the case pages then show a conversation."""
    attachment = site.tmp / "questions.txt"
    attachment.write_text("请补充材料", encoding="utf-8")
    with Session(services(site.app).engine, expire_on_commit=False) as s:
        case = s.scalar(select(Case).where(Case.locator == code.locator))
        offline.reply_to_case(
            s, services(site.app).rules, case, "请于十个工作日内补充证据。", [attachment], today("Asia/Shanghai")
        )
        s.commit()


def _pages(page, site):
    """Visit every reporter page in turn; yield a name for each once it is on screen."""
    url = site.url
    for path in ("/", "/report/contractor", "/report/general", "/followup"):
        page.goto(url + path)
        yield path

    page.goto(url + "/report/contractor")
    page.wait_for_function("document.getElementById('report-form').dataset.enhanced === 'true'")
    _fill_report(page)
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#receipt-code:not(:empty)", state="visible", timeout=60_000)
    code = ReceiptCode.parse(page.text_content("#receipt-code"))
    yield "receipt (JavaScript)"
    _reply(site, code)

    page.goto(url + "/followup")
    page.wait_for_function("document.getElementById('code-form').dataset.enhanced === 'true'")
    page.fill("#code", code.grouped())
    page.click("#code-form button[type=submit]")
    page.wait_for_selector("#case-area:not([hidden]) #case-title", timeout=60_000)
    page.wait_for_selector("text=questions.txt")
    yield "case (JavaScript)"

    _block(page, "report.js")
    page.goto(url + "/report/contractor")
    _fill_report(page)
    with page.expect_navigation():
        page.click("#report-form button[type=submit]")
    page.wait_for_selector("#receipt-code")
    yield "receipt (no JavaScript)"

    _block(page, "followup.js")
    page.goto(url + "/followup")
    page.fill("#code", code.grouped())
    with page.expect_navigation():
        page.click("#code-form button[type=submit]")
    page.wait_for_selector("#case-title")
    assert page.is_visible("text=questions.txt")
    yield "case (no JavaScript)"

    page.goto(url + "/report/contractor")  # report.js is still blocked
    _fill_report(page)
    page.fill("#narrative", "   ")  # passes the browser's check, not the server's
    with page.expect_navigation():
        page.click("#report-form button[type=submit]")
    page.wait_for_selector("#error-summary")
    # The summary takes the focus, and its link leads to the field.
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert page.get_attribute("#narrative", "aria-invalid") == "true"
    yield "report form with errors (no JavaScript)"

    page.goto(url + "/followup")  # followup.js is still blocked
    page.fill("#code", "1234 5678 9012")
    with page.expect_navigation():
        page.click("#code-form button[type=submit]")
    page.wait_for_selector("#code-error")
    assert page.evaluate("document.activeElement.id") == "code"
    yield "follow-up with a mistyped code (no JavaScript)"


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=list(VIEWPORTS))
@pytest.mark.parametrize("lang", LANGUAGES, ids=list(LANGUAGES))
def test_reporter_pages_have_no_serious_violations(browser, site, axe_source, lang, viewport):
    checked = _check_pages(browser, axe_source, lang, viewport, lambda page: _pages(page, site))
    assert len(checked) == 10, checked


def _check_pages(browser, axe_source, lang: str, viewport: str, pages) -> list:
    """Run axe on each page ``pages(page)`` yields (and, on the phone, check that nothing
    scrolls sideways); fail on any serious or critical finding. Returns the pages' names."""
    size = VIEWPORTS[viewport]
    context = _context(browser, lang, size)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    failures, report, checked = [], [], []
    try:
        for name in pages(page):
            checked.append(name)
            assert page.evaluate("document.documentElement.lang") == lang.replace("_", "-"), name
            for v in _axe(page, axe_source):
                line = f"[{lang} {viewport}] {name}: {v['impact']} {v['id']}: {v['help']}\n    " + "\n    ".join(
                    v["nodes"]
                )
                report.append(line)
                if v["impact"] in FAILING_IMPACTS:
                    failures.append(line)
            if viewport == "phone":
                width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                if width[0] > size["width"]:
                    failures.append(
                        f"[{lang} {viewport}] {name}: scrolls sideways "
                        f"(content {width[0]} px wide on a {size['width']} px screen)"
                    )
    finally:
        context.close()
    print("\n".join(report) or "no axe findings")
    assert not errors, errors
    assert not failures, "\n" + "\n".join(failures)
    return checked


def _focused(page) -> dict:
    return page.evaluate("""() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        return {tag: el.tagName.toLowerCase(), id: el.id, name: el.name || "", value: el.value || "",
                type: el.type || "", outline: parseFloat(style.outlineWidth) || 0,
                outlineStyle: style.outlineStyle, shadow: style.boxShadow};
    }""")


def _tab_to(page, matches, seen: list, limit: int = 80) -> dict:
    """Press Tab until the focused element satisfies ``matches``; every stop on the way must
    show where the focus is."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = _focused(page)
        seen.append(focused)
        assert focused["tag"] != "body", "focus fell off the page"
        visible = (focused["outline"] > 0 and focused["outlineStyle"] != "none") or focused["shadow"] != "none"
        assert visible, f"no visible focus indicator on {focused}"
        if matches(focused):
            return focused
    raise AssertionError(f"never reached the element by Tab; stops: {seen[-limit:]}")


def _choose_radio(page, name: str, value: str, seen: list) -> None:
    """Tab into a radio group, then arrow keys until ``value`` is checked."""
    _tab_to(page, lambda f: f["name"] == name, seen)
    page.keyboard.press("Space")  # nothing is checked yet: Space checks the focused option
    for _ in range(12):
        if page.evaluate(f"document.querySelector('input[name={name}]:checked')?.value") == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"arrow keys never reached {name}={value}")


def _choose_option(page, element_id: str, value: str, seen: list) -> None:
    """Tab to a <select> and move through its options with the arrow keys."""
    _tab_to(page, lambda f: f["id"] == element_id, seen)
    for _ in range(40):
        if page.evaluate(f"document.getElementById('{element_id}').value") == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"arrow keys never reached {element_id}={value}")


@pytest.mark.parametrize("lang", LANGUAGES, ids=list(LANGUAGES))
def test_contractor_report_by_keyboard_alone(browser, site, lang):
    context = browser.new_context(locale=LANGUAGES[lang], viewport=VIEWPORTS["phone"])
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    seen: list = []
    try:
        page.goto(site.url + "/report/contractor")
        page.wait_for_function("document.getElementById('report-form').dataset.enhanced === 'true'")

        # The first Tab reaches the skip link; Enter moves the focus to the main content.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.classList.contains('skip')")
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"

        _choose_option(page, "department", "housing", seen)
        _choose_radio(page, "accused_rank", "head", seen)
        _choose_radio(page, "category", "gifts", seen)
        _choose_option(page, "money_band", "10k_100k", seen)
        _choose_radio(page, "frequency", "regular", seen)
        _choose_radio(page, "evidence", "attached", seen)
        _tab_to(page, lambda f: f["id"] == "accused_name", seen)
        page.keyboard.type("张某")
        _tab_to(page, lambda f: f["id"] == "narrative", seen)
        page.keyboard.type("他要求我请客吃饭，每次工程款都要拖延。")
        _tab_to(page, lambda f: f["tag"] == "button" and f["type"] == "submit", seen)
        page.keyboard.press("Enter")

        page.wait_for_selector("#receipt-code:not(:empty)", state="visible", timeout=60_000)
        code = ReceiptCode.parse(page.text_content("#receipt-code"))
        assert len(code.digits) == 28
        # The receipt takes the focus, so a screen reader announces it at once.
        assert page.evaluate("document.activeElement.id") == "receipt"
        # And the way on is reachable by keyboard too.
        _tab_to(
            page,
            lambda f: f["tag"] == "a" and "/followup" in page.evaluate("document.activeElement.getAttribute('href')"),
            seen,
        )
    finally:
        context.close()
    assert not errors, errors
    # Only real controls took the focus, in the order of the form.
    order = [f["id"] or f["name"] for f in seen if f["id"] or f["name"]]
    firsts = [
        order.index(x)
        for x in (
            "department",
            "accused_rank",
            "category",
            "money_band",
            "frequency",
            "evidence",
            "accused_name",
            "narrative",
        )
    ]
    assert firsts == sorted(firsts)


def test_axe_reports_a_seeded_violation(browser, site, axe_source):
    """The check itself works: faint text and an image without a text alternative fail."""
    context = _context(browser, "en", VIEWPORTS["desktop"])
    page = context.new_page()
    try:
        page.goto(site.url + "/")
        page.evaluate("""document.querySelector("main").insertAdjacentHTML("beforeend",
            '<p style="color:#bbb;background:#fff">faint</p><img src="/static/img/favicon.svg">')""")
        found = {v["id"]: v["impact"] for v in _axe(page, axe_source)}
    finally:
        context.close()
    assert found.get("color-contrast") in FAILING_IMPACTS
    assert found.get("image-alt") in FAILING_IMPACTS


def test_axe_is_pinned():
    """axe-core is an exact version in package.json and recorded in the lockfile."""
    import json

    package = json.loads((PROJECT_DIR / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((PROJECT_DIR / "package-lock.json").read_text(encoding="utf-8"))
    version = package["devDependencies"]["axe-core"]
    assert version[0].isdigit(), "pin an exact axe-core version"
    assert lock["packages"]["node_modules/axe-core"]["version"] == version
    assert "resolved" not in json.dumps(lock), "the lockfile should not name a registry host"
    assert Path(AXE).is_file()


# --- the committee's pages ------------------------------------------------------------------


@pytest.fixture(scope="module")
def committee_people(site):
    """A member (with a key made as their browser would) holding one case, and an admin."""
    from tests.client_side import HEADER, seal_report
    from tests.committee.conftest import enrol

    import datetime as dt

    from whistle.channels import surveys

    people = {name: enrol(site.app, name) for name in ("zhao.lei", "ma.lin", "zhou.min")}
    resp, _code, _keys = seal_report(
        site.app.test_client(),
        "委员会页面的无障碍检查 accessibility",
        header=dict(HEADER, department="housing", accused_rank="staff"),
    )
    assert resp.status_code == 201
    day = today("Asia/Shanghai")
    with Session(services(site.app).engine) as s:  # an open survey, for its answer and committee pages
        survey = surveys.create(
            s,
            title="廉政回访",
            intro="匿名问卷。",
            start=day - dt.timedelta(days=1),
            end=day + dt.timedelta(days=7),
            items=[
                surveys.ItemSpec("choice", "行业", breakdown=True, options=["工程", "供货"]),
                surveys.ItemSpec("likert", "办事人员公平对待我"),
                surveys.ItemSpec("yes_no", "是否被要求请客送礼？", bribery=True),
                surveys.ItemSpec("free_text", "其他情况"),
            ],
            owner_unit="stationed_1",
            created_by="zhao.lei",
            on=day,
        )
        survey.status = "open"
        s.commit()
        site.survey_id = survey.id
    return people


def _member_login(page, site, person) -> None:
    """Log in through the form, by keyboard (a TOTP step used before is forgotten first)."""
    import pyotp
    from tests.committee.conftest import PASSWORD
    from tests.helpers import forget_used_totp_steps

    forget_used_totp_steps(site.app)
    page.goto(site.url + "/committee/login")
    page.fill("#username", person.username)
    page.fill("#password", PASSWORD)
    page.fill("#totp", pyotp.TOTP(person.totp).now())
    page.press("#totp", "Enter")
    page.wait_for_load_state()
    assert "/committee/login" not in page.url, page.url


def _unlock(page) -> None:
    from tests.committee.conftest import KEY_PASSPHRASE as MEMBER_KEY_PASSPHRASE

    page.wait_for_selector("#unlock:not([hidden])")
    page.fill("#key-passphrase", MEMBER_KEY_PASSPHRASE)
    page.press("#key-passphrase", "Enter")
    page.wait_for_selector("text=委员会页面的无障碍检查", timeout=60_000)


def _committee_pages(page, site, people):
    """Visit the committee's pages (and the public transparency page); yield a name for each."""
    url = site.url
    page.goto(url + "/transparency")
    yield "/transparency"
    page.goto(url + "/committee/login")
    yield "committee login"
    _member_login(page, site, people["zhao.lei"])
    page.goto(url + "/committee/")
    yield "case list"
    page.click("table.cases a")
    page.wait_for_selector("#unlock:not([hidden])")
    yield "case (locked)"
    _unlock(page)
    yield "case (unlocked)"
    page.goto(url + "/committee/dashboard")
    yield "dashboard"
    page.goto(url + "/committee/surveys")
    yield "surveys"
    page.goto(f"{url}/committee/surveys/{site.survey_id}")
    yield "survey"
    page.context.clear_cookies()
    _member_login(page, site, people["zhou.min"])
    page.goto(url + "/committee/notices")
    yield "notices"
    page.context.clear_cookies()
    _member_login(page, site, people["ma.lin"])
    page.goto(url + "/committee/admin/members")
    yield "members"
    page.context.clear_cookies()
    page.goto(f"{url}/surveys/{site.survey_id}")
    page.wait_for_selector("#survey-form")
    yield "survey answer form"
    _block(page, "survey.js")
    page.goto(f"{url}/surveys/{site.survey_id}")
    yield "survey answer form (no JavaScript)"


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=list(VIEWPORTS))
@pytest.mark.parametrize("lang", LANGUAGES, ids=list(LANGUAGES))
def test_committee_pages_have_no_serious_violations(browser, site, committee_people, axe_source, lang, viewport):
    checked = _check_pages(
        browser, axe_source, lang, viewport, lambda page: _committee_pages(page, site, committee_people)
    )
    assert len(checked) == 12, checked


def test_member_flow_by_keyboard_alone(browser, site, committee_people):
    """Log in, open the case, unlock the key, acknowledge, reply: Tab, typing and Enter only,
    and every stop shows where the focus is."""
    import pyotp
    from tests.committee.conftest import KEY_PASSPHRASE as MEMBER_KEY_PASSPHRASE, PASSWORD
    from tests.helpers import forget_used_totp_steps

    context = browser.new_context(locale=LANGUAGES["en"], viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    seen: list = []
    person = committee_people["zhao.lei"]
    forget_used_totp_steps(site.app)
    try:
        page.goto(site.url + "/committee/login")
        _tab_to(page, lambda f: f["id"] == "username", seen)
        page.keyboard.type(person.username)
        _tab_to(page, lambda f: f["id"] == "password", seen)
        page.keyboard.type(PASSWORD)
        _tab_to(page, lambda f: f["id"] == "totp", seen)
        page.keyboard.type(pyotp.TOTP(person.totp).now())
        with page.expect_navigation():
            page.keyboard.press("Enter")

        page.goto(site.url + "/committee/")
        _tab_to(
            page,
            lambda f: (
                f["tag"] == "a"
                and "/committee/cases/" in (page.evaluate("document.activeElement.getAttribute('href')") or "")
            ),
            seen,
        )
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_selector("#unlock:not([hidden])")
        if _focused(page)["id"] != "key-passphrase":  # the page may hand it the focus at once
            _tab_to(page, lambda f: f["id"] == "key-passphrase", seen)
        page.keyboard.type(MEMBER_KEY_PASSPHRASE)
        page.keyboard.press("Enter")
        page.wait_for_selector("text=委员会页面的无障碍检查", timeout=60_000)

        _tab_to(page, lambda f: f["name"] == "event" and f["value"] == "acknowledged", seen, limit=120)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "The case is acknowledged" in page.text_content("p.flash")
        page.wait_for_selector("text=委员会页面的无障碍检查", timeout=60_000)  # still unlocked
        _tab_to(page, lambda f: f["id"] == "reply-text", seen, limit=120)
        page.keyboard.type("KEYBOARD-REPLY 请补充材料")
        _tab_to(
            page,
            lambda f: (
                f["tag"] == "button"
                and f["type"] == "submit"
                and page.evaluate("document.activeElement.closest('form')?.id") == "reply-form"
            ),
            seen,
        )
        page.keyboard.press("Enter")
        page.wait_for_selector("#conversation >> text=KEYBOARD-REPLY 请补充材料", timeout=60_000)
    finally:
        context.close()
    assert not errors, errors
