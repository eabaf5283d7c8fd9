"""Receipt derivations on the server wait for a slot (Config.kdf_slots): a flood of no-JS
requests queues instead of running one argon2id per thread, each with its own memory."""
import importlib.util
import threading
from types import SimpleNamespace

from whistle.config import PROJECT_DIR

from tests.conftest import build_app, make_config
from tests.test_reporter_nojs import submit

WAIT = 0.5  # a derivation at the tests' cost takes a few milliseconds


def _run_with_every_slot_taken(app, work):
    """Start ``work`` in a thread while every slot is held; check it is still waiting after
    WAIT; free the slots; return what it returned once done."""
    slots = app.extensions["whistle.kdf_slots"]
    taken = [slots.acquire(blocking=False) for _ in range(64)]
    assert any(taken) and not taken[-1], "the slots are bounded"
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("value", work()), daemon=True)
    try:
        thread.start()
        thread.join(WAIT)
        assert thread.is_alive() and not outcome, "a receipt was stretched without a slot"
    finally:
        for held in taken:
            if held:
                slots.release()
    thread.join(30)
    return outcome.get("value")


def test_a_follow_up_waits_for_a_free_slot_then_succeeds(app, client, committee):
    code = submit(client)
    status = _run_with_every_slot_taken(app, lambda: app.test_client().post("/followup", data={"code": code}).status_code)
    assert status == 200


def test_a_no_js_report_waits_for_a_free_slot(app, committee):
    code = _run_with_every_slot_taken(app, lambda: submit(app.test_client()))
    assert code.replace(" ", "").isdigit()  # the receipt code the reporter was shown


def test_the_setting_sizes_the_slots(tmp_path):
    app = build_app(make_config(tmp_path, kdf_slots=3))
    slots = app.extensions["whistle.kdf_slots"]
    assert [slots.acquire(blocking=False) for _ in range(4)] == [True, True, True, False]


def test_gunicorn_gives_each_worker_its_share_of_the_cores(monkeypatch):
    spec = importlib.util.spec_from_file_location("gunicorn_conf", PROJECT_DIR / "deploy" / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    monkeypatch.setattr(conf.multiprocessing, "cpu_count", lambda: 8)
    for workers, expected in ((1, "8"), (2, "4"), (3, "3"), (16, "1")):
        monkeypatch.delenv("WHISTLE_KDF_SLOTS", raising=False)
        conf.post_fork(SimpleNamespace(cfg=SimpleNamespace(workers=workers)), None)
        assert conf.os.environ["WHISTLE_KDF_SLOTS"] == expected
    monkeypatch.setenv("WHISTLE_KDF_SLOTS", "5")  # an operator's setting wins
    conf.post_fork(SimpleNamespace(cfg=SimpleNamespace(workers=2)), None)
    assert conf.os.environ["WHISTLE_KDF_SLOTS"] == "5"
