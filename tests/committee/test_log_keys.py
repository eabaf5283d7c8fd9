"""What decides who can read is in the public log: the key a member enrolled with (its id),
and the members a report was sealed to when it came in (withheld from the public leaf)."""

import datetime as dt
import json

from sqlalchemy import select

from crypto.keys import kid
from whistle.custody import intake_log, public_log
from whistle.models import AuditEntry, PendingIntake

from tests.client_side import HEADER, seal_report


def test_enrolment_names_the_key_and_intake_names_the_recipients(app, people, db_session):
    enrolled = {
        e.actor: json.loads(e.detail)
        for e in db_session.scalars(select(AuditEntry).where(AuditEntry.action == "enrolled"))
    }
    assert enrolled["zhao.lei"] == {"key": kid(people["zhao.lei"].keypair.public), "waiting_for": "confirmation"}
    resp, _code, _keys = seal_report(
        app.test_client(), "to the routed members", header=dict(HEADER, accused_rank="staff")
    )
    assert resp.status_code == 201
    day = db_session.scalar(select(PendingIntake.day))
    intake_log.seal_days(db_session, day + dt.timedelta(days=1))
    db_session.commit()
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "intake"))
    recipients = json.loads(entry.detail)["recipients"]
    assert recipients and set(recipients) <= set(people)
    leaf = json.loads(public_log.entries(db_session, entry.seq - 1, entry.seq)[0])
    assert leaf["detail"]["recipients"] == "withheld"


def test_a_member_key_swapped_by_sql_is_named(app, people, db_session):
    from crypto.keys import KeyPair
    from whistle.custody import audit
    from whistle.models import Member

    assert audit.verify(db_session).ok
    enrolled_seq = db_session.scalar(
        select(AuditEntry.seq).where(AuditEntry.action == "enrolled", AuditEntry.actor == "li.na")
    )
    member = db_session.scalar(select(Member).where(Member.username == "li.na"))
    member.public_key = KeyPair.generate().public  # the operator's own key, to be sealed to
    db_session.commit()
    verdict = audit.verify(db_session)
    assert verdict.problem == audit.KEY_NOT_ENROLLED and verdict.first_bad == enrolled_seq
    assert "li.na" in verdict.message
