"""A real-name reporter's identity, disclosed on request, as a state machine
(hypothesis.stateful): any order of requests, decisions and re-sealing by the members
involved, and the rules that must hold after every step.

The reporter gives a name; it is sealed to the custodian (chen.jie) and the committee key
only. Members holding the case (zhao.lei, to whom routing gave it, and liu.yang, granted
it) ask for it with a reason; anyone may try to decide a request (the custodian, the
requester, a member who is no custodian) and to re-seal the name (as the custodian's
browser does after approving, or with a made-up key); any of the three may be deactivated by
the admin and later invited again (enrolling afresh, with a new key). After every step:

- no response is a 5xx or carries a trace, and the audit log verifies;
- the name's key is held (sealed or re-sealed) only by the custodian, the committee key
  and members to whom a disclosure was recorded (under a key they held then);
- every disclosure was approved first, for that request, by a custodian other than the
  requester, and done by that custodian; no approval came from the requester; nobody
  deactivated at the time approved, disclosed or was disclosed to;
- nothing of the name reaches the audit log;
- a request waits only for a member who still may open the case and cannot read the name.

One app for the run (new real-name cases each example); SQLite, and PostgreSQL when
configured.
"""

import json

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.encoding import b64u
from whistle.custody import audit
from whistle.cases import store as cases
from whistle.models import AuditEntry, Case, CaseItem, CommitteeKey, ItemKey, Member, PendingAction
from whistle.services import services

from tests.committee.conftest import enrol
from tests.committee.test_members_admin import _deactivate, _invite_link
from tests.conftest import BACKENDS, make_config
from tests.test_fuzz import check
from tests.test_identity import NAME, _disclose, _grant_case, real_name_report

CUSTODIAN, REQUESTERS = "chen.jie", ("zhao.lei", "liu.yang")
EVERYONE = (CUSTODIAN, *REQUESTERS)


@pytest.fixture(params=BACKENDS)
def config(tmp_path, request):
    """The usual test app, rate limits off (tests/test_brute_force.py has them)."""
    return make_config(tmp_path, request, backend=request.param, extra={"ratelimit": False})


@pytest.fixture
def machine(app, committee, unhandled):
    engine = services(app).engine
    people = {name: enrol(app, name) for name in EVERYONE}
    admin = enrol(app, "ma.lin")
    held_kids = {name: {people[name].keypair.kid} for name in EVERYONE}  # every key each one ever had
    target = unhandled

    class Disclosure(RuleBasedStateMachine):
        cases = Bundle("cases")

        def __init__(self):
            super().__init__()
            self.cases_here = []

        def _post(self, who: str, path: str, form: dict):
            # (someone deactivated has no session: tests/committee/test_members_admin.py)
            if not self._active(who):
                return None
            resp = people[who].post(path, form, headers={"Accept-Language": "en"})
            check(target, resp, (who, path))
            return resp

        def _requests(self, case_id) -> list[str]:
            with Session(engine) as s:
                return list(
                    s.scalars(
                        select(PendingAction.id)
                        .where(PendingAction.case_id == case_id, PendingAction.action == "disclose")
                        .order_by(PendingAction.id)
                    )
                )

        def _active(self, who: str) -> bool:
            with Session(engine) as s:
                return s.scalar(select(Member.active).where(Member.username == who))

        @initialize(target=cases)
        def two_cases(self):
            for who in EVERYONE:  # the app outlives an example: whoever left comes back first
                self.comes_back(who)
            return multiple(self._new_case(), self._new_case())

        def _new_case(self) -> str:
            with Session(engine) as s:
                before = set(s.scalars(select(Case.id)))
            real_name_report(app.test_client())
            with Session(engine) as s:
                (case_id,) = set(s.scalars(select(Case.id))) - before
            _grant_case(people["zhao.lei"], people["liu.yang"], case_id)
            self.cases_here.append(case_id)
            return case_id

        @rule(
            case=cases, who=st.sampled_from(EVERYONE), reason=st.sampled_from(["to interview the witness"] * 3 + [""])
        )
        def ask(self, case, who, reason):
            self._post(who, f"/committee/cases/{case}/identity-request", {"reason": reason})

        @rule(
            case=cases,
            who=st.sampled_from((CUSTODIAN,) * 3 + REQUESTERS),
            approve=st.booleans(),
            index=st.integers(0, 3),
        )
        def decide(self, case, who, approve, index):
            waiting = self._requests(case)
            if waiting:
                self._post(
                    who,
                    f"/committee/identity-requests/{waiting[index % len(waiting)]}",
                    {"decision": "approve" if approve else "refuse", "reason": "decided"},
                )

        @rule(case=cases, index=st.integers(0, 3))
        def reseal_as_the_custodians_browser(self, case, index):
            waiting = self._requests(case)
            if waiting and self._active(CUSTODIAN):
                custodian = people[CUSTODIAN]
                info = custodian.api("get", f"/committee/api/identity-requests/{waiting[index % len(waiting)]}")
                check(target, info, ("identity request", case))
                if info.status_code == 200:
                    check(target, _disclose(custodian, waiting[index % len(waiting)]), ("disclose", case))

        @rule(case=cases, who=st.sampled_from(EVERYONE), index=st.integers(0, 3))
        def reseal_a_made_up_key(self, case, who, index):
            if not self._active(who):
                return
            waiting = self._requests(case) or ["0" * 32]
            resp = people[who].api(
                "post",
                f"/committee/api/cases/{case}/identity-grant",
                json={"request": waiting[index % len(waiting)], "sealed_key": b64u(bytes(80))},
            )
            check(target, resp, ("made-up key", who, case))
            assert resp.status_code in (201, 403, 409), resp.status_code

        @rule(who=st.sampled_from(EVERYONE))
        def leaves(self, who):
            if self._active(who):
                _deactivate(admin, who)

        @rule(who=st.sampled_from(EVERYONE))
        def comes_back(self, who):
            if not self._active(who):
                token = _invite_link(admin, who).rsplit("/", 1)[1]
                people[who] = enrol(app, who, token=token)
                held_kids[who].add(people[who].keypair.kid)

        @invariant()
        def the_log_verifies_and_never_holds_the_name(self):
            with Session(engine) as s:
                count, bad = audit.verify(s)
                assert bad is None, (count, bad)
                details = "".join(e.detail for e in s.scalars(select(AuditEntry)))
                assert NAME["name"] not in details and NAME["contact"] not in details

        @invariant()
        def only_the_custodian_the_committee_and_disclosed_members_hold_the_name(self):
            with Session(engine) as s:
                committee_kids = set(s.scalars(select(CommitteeKey.kid)))
                entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
                for case_id in self.cases_here:
                    item = s.scalar(select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.kind == "identity"))
                    if item is None:
                        continue
                    sealed_to = {r["kid"] for r in cases.item_envelope(item)["recipients"]}
                    resealed = set(s.scalars(select(ItemKey.kid).where(ItemKey.item_id == item.id)))
                    disclosed = {
                        json.loads(e.detail)["to"]
                        for e in entries
                        if e.case_id == case_id and e.action == "identity_disclosed"
                    }
                    allowed = committee_kids | held_kids[CUSTODIAN] | set().union(*(held_kids[n] for n in disclosed))
                    assert sealed_to <= committee_kids | held_kids[CUSTODIAN], case_id
                    assert resealed <= allowed, (case_id, resealed - allowed)

        @invariant()
        def every_disclosure_was_approved_by_another_custodian_first(self):
            with Session(engine) as s:
                approved, gone = {}, set()
                for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
                    detail = json.loads(e.detail)
                    if e.action == "deactivate":
                        gone.add(detail["member"])
                    elif e.action == "invite":
                        gone.discard(detail["member"])
                    elif e.action == "identity_approved":
                        assert e.actor == CUSTODIAN and detail["requester"] != e.actor
                        assert e.actor not in gone, e.seq
                        approved[detail["request"]] = e.actor
                    elif e.action == "identity_disclosed":
                        assert approved.get(detail["request"]) == e.actor, (e.seq, detail)
                        assert detail["to"] != e.actor
                        assert not {e.actor, detail["to"]} & gone, (e.seq, gone)

        @invariant()
        def a_waiting_request_is_from_someone_who_may_still_ask(self):
            with Session(engine) as s:
                for pending in s.scalars(select(PendingAction).where(PendingAction.action == "disclose")):
                    member = s.get(Member, pending.proposed_by)
                    assert member.username in EVERYONE

    return Disclosure


def test_any_order_of_disclosure_steps_keeps_the_rules(machine):
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=15,
            stateful_step_count=20,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
