"""The benchmark's own measuring tools give the figures they claim (bench/ is run by
hand; these keep its parts honest in CI)."""
import io

from bench import discard_app, report


def test_discard_app_receives_the_whole_file_and_keeps_none_of_it():
    app = discard_app.create()
    content = bytes(range(256)) * 1031  # over 64 KiB (werkzeug reads in 64 KiB), not a multiple of it
    resp = app.test_client().post("/discard", data={"narrative": "x", "department": "housing",
                                                    "files": (io.BytesIO(content), "evidence.bin")})
    assert resp.status_code == 200
    assert resp.get_json() == {"fields": 2, "file_bytes": len(content)}


def test_attachment_report_states_the_receiving_floor_against_raw_encryption():
    results = {"attachments": {"raw": {"secretstream_mib_s": 1000.0, "stream_encryptor_mib_s": 900.0,
                                       "disk_write_fsync_mib_s": 2000.0, "receive_and_parse_mib_s": 250.0}}}
    text = "\n".join(report._attachments(results))
    assert "Receiving alone" in text and "250 MiB/s, 25 % of raw encryption" in text
    del results["attachments"]["raw"]["receive_and_parse_mib_s"]  # results of an older run
    assert "Receiving alone" not in "\n".join(report._attachments(results))
