"""A new report's recipients come from one read of the database (committee keys UNION ALL
the members who may hold keys), and that read is fresh: a member deactivated a moment ago is
not sealed to."""

from sqlalchemy import event, update
from sqlalchemy.orm import Session

from whistle.cases import store
from whistle.models import Member
from whistle.services import services
from whistle.triage.routing import route

HEADER = {
    "channel": "contractor",
    "department": "transport",
    "category": "gifts",
    "accused_rank": "staff",
    "money_band": "10k_100k",
    "frequency": "regular",
    "evidence": "attached",
}


def _statements(engine, run):
    seen = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        result = run()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return result, seen


def test_a_reports_recipients_are_one_read_and_a_deactivated_member_gets_no_key(app, committee, people):
    engine, rules = services(app).engine, services(app).rules
    eligible = set(route(rules, HEADER).eligible)
    assert eligible & set(people), "the header must route to some enrolled member"
    with Session(engine) as s:
        sealing, seen = _statements(engine, lambda: store.sealing_for(s, rules, HEADER))
        assert len([q for q in seen if q.lstrip().upper().startswith("SELECT")]) == 1, seen
        assert [r.public_key for r in sealing.required] == [committee[0].public]
        chosen = {m.username for m, _r in sealing.members}
        assert chosen == eligible & set(people)
        assert {r.public_key for _m, r in sealing.members} == {people[n].keypair.public for n in chosen}
        gone = sorted(chosen)[0]
        s.execute(update(Member).where(Member.username == gone).values(active=False))
        s.commit()
    with Session(engine) as s:
        after = {m.username for m, _r in store.sealing_for(s, rules, HEADER).members}
    assert after == chosen - {gone}


def test_an_unconfirmed_account_gets_no_key_from_the_routing_read(app, committee, people):
    """The one read asks what every other choice of keys asks (KEY_HOLDER): an account no
    second person confirmed is sealed nothing."""
    engine, rules = services(app).engine, services(app).rules
    with Session(engine) as s:
        chosen = {m.username for m, _r in store.sealing_for(s, rules, HEADER).members}
        alone = sorted(chosen)[0]
        s.execute(update(Member).where(Member.username == alone).values(confirmed_on=None))
        s.commit()
    with Session(engine) as s:
        assert {m.username for m, _r in store.sealing_for(s, rules, HEADER).members} == chosen - {alone}
