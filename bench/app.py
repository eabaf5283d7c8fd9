"""The whistle app as the benchmark serves it: the configuration from the environment,
exactly as production reads it, with only the rate limits raised, since a load generator
is one client sending thousands of requests an hour.

    gunicorn -c deploy/gunicorn.conf.py --workers 2 'bench.app:create()'

The limits are settings of whistle.config.Config (limit_submit, limit_submit_nojs, limit_pow,
limit_followup, limit_followup_global); the limiter itself stays on and keeps counting in
its storage (Redis in the benchmark), so its cost is part of every measured request.
"""

from whistle import create_app
from whistle.config import from_env

RAISED = "100000000 per hour"


def create():
    """whistle:create_app() with the benchmark's rate limits."""
    cfg = from_env()
    names = ("limit_submit", "limit_submit_nojs", "limit_pow", "limit_followup", "limit_followup_global")
    return create_app(cfg.with_(**{name: RAISED for name in names if hasattr(cfg, name)}))
