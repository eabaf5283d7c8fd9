"""The benchmark's own measuring tools give the figures they claim (bench/ is run by
hand; these keep its parts honest in CI)."""

import io

from bench import discard_app, report


def test_discard_app_receives_the_whole_file_and_keeps_none_of_it():
    content = bytes(range(256)) * 1031  # over 64 KiB (werkzeug reads in 64 KiB), not a multiple of it
    resp = (
        discard_app.create()
        .test_client()
        .post(
            "/discard", data={"narrative": "x", "department": "housing", "files": (io.BytesIO(content), "evidence.bin")}
        )
    )
    assert resp.status_code == 200
    assert resp.get_json() == {"fields": 2, "file_bytes": len(content), "largest_write": 64 * 1024}


def test_discard_app_reads_with_the_buffer_it_was_given():
    content = bytes(range(256)) * 1900  # 475 KiB: still one in-memory body for the test client
    resp = discard_app.create(256 * 1024).test_client().post("/discard", data={"files": (io.BytesIO(content), "e")})
    answer = resp.get_json()
    assert answer["file_bytes"] == len(content)
    assert 64 * 1024 < answer["largest_write"] <= 256 * 1024  # werkzeug's default would give 64 KiB


def test_attachment_report_states_the_receiving_floor_against_raw_encryption():
    raw = {
        "secretstream_mib_s": 1000.0,
        "stream_encryptor_mib_s": 900.0,
        "disk_write_fsync_mib_s": 2000.0,
        "receive_and_parse_mib_s": 250.0,
        "receive_and_parse_whistle_reads_mib_s": 400.0,
        "whistle_read_kib": 256,
    }
    text = "\n".join(report._attachments({"attachments": {"raw": raw}}))
    assert "250 MiB/s with werkzeug's default 64 KiB reads, 25 % of raw encryption" in text
    assert "400 MiB/s (40 %) with 256 KiB reads, whistle's" in text
    del raw["receive_and_parse_mib_s"], raw["receive_and_parse_whistle_reads_mib_s"]  # an older run's results
    assert "Receiving alone" not in "\n".join(report._attachments({"attachments": {"raw": raw}}))


def test_the_benchmark_prepares_a_committee_whose_members_log_in(tmp_path):
    """bench/common.prepare_whistle builds the benchmark's committee with whistle's own
    functions: a change to them must break this test, not the next benchmark run."""
    import pyotp
    from sqlalchemy.orm import Session

    from bench import common
    from whistle.committee import members
    from whistle.db import make_engine
    from whistle.models import CommitteeKey
    from whistle.security.proof_of_work import MemorySpent

    url = f"sqlite:///{tmp_path / 'bench.db'}"
    enrolled = common.prepare_whistle(url, tmp_path / "committee.key", tmp_path / "secret")
    assert set(enrolled) == {"zhao.lei", "li.na"}
    secret = common.instance_secret(tmp_path / "secret")
    engine = make_engine(url)
    with Session(engine) as s:
        assert s.query(CommitteeKey).count() == 1
        member_id, totp, _keypair = enrolled["zhao.lei"]
        member = members.authenticate(
            s, secret, "zhao.lei", common.MEMBER_PASSWORD, pyotp.TOTP(totp).now(), MemorySpent()
        )
        assert member is not None and member.id == member_id
        # Reports are sealed to them, as to a committee whose enrolments a second person confirmed.
        from whistle.cases.store import routing_read

        assert [m.username for m in routing_read(s, ["zhao.lei", "li.na"])[1]] == ["li.na", "zhao.lei"]
    engine.dispose()
