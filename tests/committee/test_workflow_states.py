"""The committee's case workflow as a state machine (hypothesis.stateful): any order of the
steps two members can take on their cases, and the rules that must hold after every step.

Two members holding the same cases (zhao.lei, to whom routing gave them, and liu.yang,
granted them by zhao in the browser's way) acknowledge, review, close, grade, dispose,
propose and confirm or reject downgrades, closings and early purges, reply to the reporter
and add notes, in whatever order hypothesis draws; the reporter follows up. After every
step:

- no response is a 5xx or carries a trace;
- the audit log verifies;
- a purged case was closed when it was purged, and nothing of it is left but its
  tombstone (no item, attachment, grant, key or pending action);
- a 高危 case was closed only with a second member's confirmation (or after a confirmed
  downgrade); no status follows itself on the timeline (closed twice, say);
- a pending action belongs to a case that exists and is not purged, and was proposed by
  one of the two members;
- the case list, the dashboard and every case page render;
- the reporter can still follow up every case that is not purged.

One app for the whole run (new cases each example); SQLite, and PostgreSQL when configured.
"""

import json

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crypto import envelope as env
from crypto.encoding import unb64u
from whistle.custody import audit
from whistle.models import Attachment, AuditEntry, Case, CaseEvent, CaseGrant, CaseItem, PendingAction
from whistle.services import services

from tests.client_side import credentials
from tests.committee.test_workspace import HOUSING, _grant_to, _report
from tests.conftest import BACKENDS, make_config
from tests.test_fuzz import check

MEMBERS = ("zhao.lei", "liu.yang")
STATUS_EVENTS = ("acknowledged", "in_review", "closed")
GRADES = ("high", "medium", "low")
DISPOSITIONS = ("not_accepted", "duplicate", "conclude", "preliminary_verification")
LOW = dict(HOUSING, money_band="under_1k", frequency="once", accused_rank="staff", evidence="none")


def _count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture(params=BACKENDS)
def config(tmp_path, request):
    """The usual test app, rate limits off: the reporter follows up every case after every
    step (the limits are tests/test_brute_force.py's)."""
    return make_config(tmp_path, request, backend=request.param, extra={"ratelimit": False})


@pytest.fixture
def machine(app, people, unhandled):
    """The state machine class, bound to an app whose members are enrolled."""
    engine = services(app).engine
    target = unhandled

    class Workflow(RuleBasedStateMachine):
        cases = Bundle("cases")

        def __init__(self):
            super().__init__()
            self.people = {name: people[name] for name in MEMBERS}
            self.codes, self.grades = {}, {}

        def _post(self, who: str, path: str, form: dict):
            resp = self.people[who].post(path, form, headers={"Accept-Language": "en"})
            check(target, resp, (who, path, form))
            return resp

        @initialize(target=cases, header=st.sampled_from([HOUSING, LOW]))
        def first_case(self, header):
            return self._new_case(header)

        @rule(target=cases, header=st.sampled_from([HOUSING, LOW]))
        def new_case(self, header):
            return self._new_case(header)

        def _new_case(self, header) -> str:
            with Session(engine) as s:
                before = set(s.scalars(select(Case.id)))
            code = _report(app, header=header)
            with Session(engine) as s:
                (case_id,) = set(s.scalars(select(Case.id))) - before
                self.grades[case_id] = s.get(Case, case_id).risk_grade  # as routing graded it
            _grant_to(self.people["zhao.lei"], self.people["liu.yang"], case_id)
            self.codes[case_id] = code
            return case_id

        @rule(case=cases, who=st.sampled_from(MEMBERS), event=st.sampled_from(STATUS_EVENTS))
        def status(self, case, who, event):
            self._post(who, f"/committee/cases/{case}/status", {"event": event})

        @rule(case=cases, who=st.sampled_from(MEMBERS), grade=st.sampled_from(GRADES))
        def grade(self, case, who, grade):
            self._post(who, f"/committee/cases/{case}/grade", {"grade": grade, "reason": "checked"})

        @rule(case=cases, other=cases, who=st.sampled_from(MEMBERS), code=st.sampled_from(DISPOSITIONS))
        def disposition(self, case, other, who, code):
            self._post(
                who,
                f"/committee/cases/{case}/disposition",
                {"disposition": code, "reason": "because", "duplicate_of": other},
            )

        @rule(case=cases, who=st.sampled_from(MEMBERS))
        def propose_purge(self, case, who):
            self._post(who, f"/committee/cases/{case}/purge", {"reason": "a test report"})

        @rule(case=cases, who=st.sampled_from(MEMBERS), approve=st.booleans(), index=st.integers(0, 3))
        def confirm(self, case, who, approve, index):
            with Session(engine) as s:
                pending = list(
                    s.scalars(select(PendingAction.id).where(PendingAction.case_id == case).order_by(PendingAction.id))
                )
            if pending:
                self._post(
                    who,
                    f"/committee/cases/{case}/confirm/{pending[index % len(pending)]}",
                    {"decision": "approve" if approve else "reject"},
                )

        @rule(case=cases, who=st.sampled_from(MEMBERS), kind=st.sampled_from(["reply", "note"]))
        def write(self, case, who, kind):
            person = self.people[who]
            view = person.api("get", f"/committee/api/cases/{case}")
            check(target, view, (who, "view", case))
            if view.status_code != 200:
                return
            data = view.get_json()
            recipients = [unb64u(r["public_key"]) for r in data["recipients"]]
            if kind == "reply":
                recipients.append(unb64u(data["reporter_public_key"]))
            sealed = env.seal(kind, {"case": case}, {"text": kind.upper(), "attachments": []}, recipients)
            resp = person.api(
                "post", f"/committee/api/cases/{case}/items", json={"kind": kind, "envelope": sealed.envelope}
            )
            check(target, resp, (who, kind, case))
            assert resp.status_code == 201, resp.get_json()

        @invariant()
        def the_audit_log_verifies(self):
            with Session(engine) as s:
                count, bad = audit.verify(s)
                assert bad is None, (count, bad)

        @invariant()
        def purges_closings_and_pending_actions_keep_their_rules(self):
            with Session(engine) as s:
                for case_id in self.codes:
                    case = s.get(Case, case_id)
                    events = [
                        e.event
                        for e in s.scalars(
                            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
                        )
                    ]
                    statuses = [e for e in events if e in STATUS_EVENTS + ("purged",)]
                    for before, after in zip(statuses, statuses[1:]):
                        assert before != after, (case_id, statuses)  # a status is entered, not repeated
                        if after == "purged":
                            assert before == "closed", (case_id, statuses)
                    if case.status == "purged":
                        assert statuses[-1] == "purged"
                        for model in (CaseItem, Attachment, CaseGrant, PendingAction):
                            assert _count(s, model, model.case_id == case_id) == 0, (case_id, model)
                    for pending in s.scalars(select(PendingAction).where(PendingAction.case_id == case_id)):
                        assert case.status != "purged"
                        assert pending.proposed_by in {p.id for p in self._members(s)}
                    self._high_closes_were_confirmed(s, case_id)

        def _members(self, s):
            from whistle.models import Member

            return s.scalars(select(Member).where(Member.username.in_(MEMBERS)))

        def _high_closes_were_confirmed(self, s, case_id):
            """Replay the log: a plain 'status: closed' entry never lands while the case is 高危."""
            grade = self.grades[case_id]
            for entry in s.scalars(select(AuditEntry).where(AuditEntry.case_id == case_id).order_by(AuditEntry.seq)):
                detail = json.loads(entry.detail)
                if entry.action == "grade_override":
                    grade = detail["after"]
                elif entry.action == "status" and detail.get("event") == "closed" and not detail.get("confirmed_by"):
                    assert grade != "high", (case_id, entry.seq)

        @invariant()
        def the_pages_show_every_state(self):
            """The list, the dashboard and each case's page render whatever the state."""
            zhao = self.people["zhao.lei"].client
            for path in ["/committee/", "/committee/dashboard"] + [f"/committee/cases/{c}" for c in self.codes]:
                resp = zhao.get(path)
                check(target, resp, ("page", path))
                assert resp.status_code in (200, 404), (path, resp.status_code)

        @invariant()
        def the_reporter_can_follow_up(self):
            for case_id, code in self.codes.items():
                with Session(engine) as s:
                    purged = s.get(Case, case_id).status == "purged"
                client = app.test_client()
                creds, _keys = credentials(client, code)
                resp = client.post("/api/v1/followup", json=creds)
                check(target, resp, ("followup", case_id))
                if not purged:
                    assert resp.status_code == 200, (case_id, resp.status_code)

    return Workflow


def test_any_order_of_committee_steps_keeps_the_rules(machine):
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=12,
            stateful_step_count=18,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
