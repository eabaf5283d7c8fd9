"""Receipt derivations on the server run a bounded number at a time per process
(whistle.cases.derivations), and gunicorn gives each worker its share of the cores."""

import os
import runpy
import threading
from types import SimpleNamespace

import pytest
from sqlalchemy.orm import Session

from crypto.keys import random_bytes
from crypto.receipt import ReceiptCode, derive_reporter_keys
from whistle.custody import offline
from whistle.clock import today
from whistle.config import PROJECT_DIR, ConfigError, from_env, usable_cores
from whistle.cases.derivations import DerivationSlots
from whistle.services import services

from tests.conftest import FAST_KDF, KEY_PASSPHRASE, build_app
from tests.helpers import receipt_from, report_form

OPS, MEM = FAST_KDF["receipt_opslimit"], FAST_KDF["receipt_memlimit"]


def _run_at_once(count: int, work) -> list:
    """Start ``count`` threads on ``work`` together; their results (or exceptions)."""
    results, start = [None] * count, threading.Barrier(count)

    def run(n):
        start.wait()
        try:
            results[n] = work(n)
        except Exception as exc:  # noqa: BLE001 - returned to the test, which fails on it
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.parametrize("slots", [1, 2])
def test_no_more_derivations_at_once_than_slots(slots):
    bounded = DerivationSlots(slots)
    codes = [ReceiptCode.generate(locator=f"{n:07d}") for n in range(6)]
    salts = [random_bytes(16) for _ in codes]
    derived = _run_at_once(6, lambda n: bounded.derive(codes[n], salts[n], OPS, MEM))
    # The same keys as an unbounded derivation, each one.
    for n, keys in enumerate(derived):
        assert not isinstance(keys, Exception), keys
        assert keys.lookup == derive_reporter_keys(codes[n], salts[n], OPS, MEM).lookup
    assert 1 <= bounded.most_running <= slots
    assert bounded.running == 0


def test_a_failed_derivation_frees_its_slot():
    bounded = DerivationSlots(1)
    with pytest.raises(Exception):
        bounded.derive(ReceiptCode.generate(locator="1234567"), b"short salt", OPS, MEM)
    assert bounded.running == 0
    assert bounded._slots.acquire(timeout=5), "the failed derivation kept its slot"
    bounded._slots.release()


def test_zero_slots_is_refused():
    with pytest.raises(ValueError):
        DerivationSlots(0)


def test_setting_from_the_environment():
    base = {"WHISTLE_INSTANCE_DIR": "/tmp/whistle-derivations-test"}
    assert from_env(base).receipt_derivations == 0
    assert from_env(base).derivation_slots == usable_cores()  # 0: one per core this process may use
    assert from_env(dict(base, WHISTLE_RECEIPT_DERIVATIONS="3")).derivation_slots == 3
    with pytest.raises(ConfigError, match="WHISTLE_RECEIPT_DERIVATIONS"):
        from_env(dict(base, WHISTLE_RECEIPT_DERIVATIONS="-1"))
    with pytest.raises(ConfigError, match="WHISTLE_RECEIPT_DERIVATIONS"):
        from_env(dict(base, WHISTLE_RECEIPT_DERIVATIONS="two"))


def test_gunicorn_gives_each_worker_its_share_of_the_cores(monkeypatch):
    settings = runpy.run_path(str(PROJECT_DIR / "deploy" / "gunicorn.conf.py"))
    cores = usable_cores()
    # Set (empty, which post_fork takes as unset) through monkeypatch first, so that what
    # post_fork writes into os.environ is undone after the test.
    monkeypatch.setenv("WHISTLE_RECEIPT_DERIVATIONS", "")
    for workers, expected in ((1, cores), (2, max(1, cores // 2)), (4 * cores, 1)):
        os.environ["WHISTLE_RECEIPT_DERIVATIONS"] = ""
        settings["post_fork"](SimpleNamespace(num_workers=workers), None)
        assert os.environ["WHISTLE_RECEIPT_DERIVATIONS"] == str(expected)
        assert from_env({"WHISTLE_INSTANCE_DIR": "/tmp/w", **os.environ}).derivation_slots == expected
    monkeypatch.setenv("WHISTLE_RECEIPT_DERIVATIONS", "7")  # an explicit setting wins
    settings["post_fork"](SimpleNamespace(num_workers=2), None)
    assert os.environ["WHISTLE_RECEIPT_DERIVATIONS"] == "7"


def test_the_nojs_report_and_followup_derive_in_the_apps_slots(config, tmp_path):
    """Four reports at once through an app with one slot: all stored, never two derivations
    together; then a follow-up, which derives again in the same slots."""
    app = build_app(config.with_(receipt_derivations=1))
    try:
        with Session(services(app).engine) as session:
            offline.init_keys(
                session,
                tmp_path / "committee.key",
                KEY_PASSPHRASE,
                "test committee",
                today("Asia/Shanghai"),
                opslimit=1,
                memlimit=8 * 1024 * 1024,
            )
            session.commit()
        bounded = services(app).derivations
        assert bounded.count == 1

        def report(_n):
            resp = app.test_client().post(
                "/report/contractor", data=report_form("并发举报"), content_type="multipart/form-data"
            )
            assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
            return receipt_from(resp.get_data(as_text=True))

        codes = _run_at_once(4, report)
        assert all(isinstance(code, str) for code in codes), codes
        assert bounded.running == 0
        before = bounded.most_running
        bounded.most_running = 0
        page = app.test_client().post("/followup", data={"code": codes[0]})
        assert page.status_code == 200 and 'class="stepper"' in page.get_data(as_text=True)
        assert before == 1 and bounded.most_running == 1  # the follow-up derived in a slot too
    finally:
        services(app).engine.dispose()


class _Watched(DerivationSlots):
    """The app's derivation slots, noting at each derivation whether the request's database
    session had a transaction open (and so held a pooled connection) meanwhile."""

    def __init__(self, count: int):
        super().__init__(count)
        self.in_transaction = []

    def derive(self, code, salt, opslimit, memlimit):
        from flask import g

        session = g.get("db")
        self.in_transaction.append(session is not None and session.in_transaction())
        return super().derive(code, salt, opslimit, memlimit)


def test_argon2id_runs_with_no_transaction_open(config, tmp_path):
    """A no-JS report and a no-JS follow-up stretch their receipt code while no database
    transaction is open: a derivation may wait for a slot and then runs a while, and a
    connection held all that time starves the pool."""
    app = build_app(config)
    try:
        with Session(services(app).engine) as session:
            offline.init_keys(
                session,
                tmp_path / "committee.key",
                KEY_PASSPHRASE,
                "test committee",
                today("Asia/Shanghai"),
                opslimit=1,
                memlimit=8 * 1024 * 1024,
            )
            session.commit()
        watched = services(app).derivations = _Watched(1)
        resp = app.test_client().post(
            "/report/contractor", data=report_form("无事务派生"), content_type="multipart/form-data"
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        page = app.test_client().post("/followup", data={"code": receipt_from(resp.get_data(as_text=True))})
        assert page.status_code == 200 and 'class="stepper"' in page.get_data(as_text=True)
        assert watched.in_transaction == [False, False]
    finally:
        services(app).engine.dispose()
