"""The defended baseline: the bare insert of bench/baseline_app.py plus the defences the
design requires of every JavaScript-path report, taken from whistle itself, and nothing else:

- the same Flask-Limiter limit (the benchmark's raised submit budget, keyed as whistle keys
  it, counted in the same Redis);
- a strict JSON parse (whistle's parser: a JSON object, bounded nesting);
- the locator token (the HMAC binding a server-issued locator to its day);
- the proof of work checked (MAC, day, bits) and spent (remembered in Redis).

What remains between this and whistle is whistle's own code: the field checks, routing, the
envelope check, the four inserts and the audit trail. The ratio against it is the target of
issue 19 (JavaScript path at least 0.7 of it).

    DEFENDED_DATABASE_URL=URL DEFENDED_SECRET_FILE=PATH DEFENDED_REDIS_URL=redis://... \\
    gunicorn -c deploy/gunicorn.conf.py --workers 2 'bench.defended_app:create()'
"""

import hashlib
import hmac
import os
from pathlib import Path

from flask import Flask, jsonify, request
from flask_limiter import Limiter
from sqlalchemy.orm import Session

from bench.app import RAISED
from bench.baseline_app import Blob
from bench.common import TZ
from whistle.cases.store import locator_token_valid
from whistle.clock import today as day_in
from whistle.cases.uploads import parse_json
from whistle.db import make_engine
from whistle.models import new_id
from whistle.security import proof_of_work
from whistle.security.privacy import client_of, daily_key_for


def create():
    """The defended baseline on DEFENDED_DATABASE_URL (its table made by baseline_app.prepare())."""
    engine = make_engine(os.environ["DEFENDED_DATABASE_URL"])
    secret = Path(os.environ["DEFENDED_SECRET_FILE"]).read_bytes()
    redis_url = os.environ["DEFENDED_REDIS_URL"]
    # A prefix of its own: the defended baseline's spent proofs never meet whistle's.
    spent = proof_of_work.spent_store_for(redis_url, prefix="whistle:defended:")
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=400 * 1024 * 1024, RATELIMIT_STORAGE_URI=redis_url)
    # Keyed as whistle keys it: an HMAC of the client under the day's key, shared by the
    # workers through a file of its own (whistle.security.privacy).
    daily = daily_key_for(redis_url, Path(os.environ["DEFENDED_SECRET_FILE"]).with_name("defended-ratelimit.key"))

    def client_key() -> str:
        return hmac.new(
            daily.current(), client_of(request.remote_addr or "unknown").encode("utf-8"), hashlib.sha256
        ).hexdigest()[:32]

    limiter = Limiter(key_func=client_key, default_limits=[], headers_enabled=False, app=app)
    app.extensions["baseline.engine"] = engine

    def refuse(detail: str):
        return jsonify(error="invalid", detail=detail), 400

    @app.post("/defended")
    @limiter.shared_limit(RAISED, scope="submit")
    def store():
        raw = request.get_data()
        try:
            data = parse_json(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return refuse("expected a JSON object")
        today = day_in(TZ)  # the day the locators were issued on, as whistle counts it
        if not locator_token_valid(secret, data.get("locator"), data.get("locator_token"), today):
            return refuse("locator_token")
        try:
            challenge = proof_of_work.check(secret, data.get("pow"), min_bits=0)
        except proof_of_work.ProofOfWorkRequired:
            return refuse("pow")
        name = hashlib.sha256(challenge.encode("ascii")).hexdigest()[:32]  # as whistle names it
        if not spent.add(name, proof_of_work.forget_at(challenge)):
            return refuse("pow: already used")
        with Session(engine) as session:
            session.add(Blob(id=new_id(), data=raw, received_on=today))
            session.commit()
        return jsonify(received_on=today.isoformat()), 201

    @app.get("/healthz")
    def healthz():
        return "ok"

    return app
