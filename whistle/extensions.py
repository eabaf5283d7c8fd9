"""Extension objects created once and bound to the app in create_app."""

from flask_limiter import Limiter
from flask_wtf.csrf import CSRFProtect

from whistle.security.privacy import client_key
from whistle.services import services

# Keyed on an HMAC of the address under a daily in-memory key (whistle.security.privacy).
limiter = Limiter(key_func=client_key, default_limits=[], headers_enabled=False)
csrf = CSRFProtect()


def _setting(name: str):
    return lambda: getattr(services().config, name)


def followup_limits(view):
    """Receipt attempts share one budget per client across pages and API, and one for all
    clients together, so guessing is slowed per client and then blocked globally."""
    view = limiter.shared_limit(_setting("limit_followup"), scope="followup")(view)
    return limiter.shared_limit(
        _setting("limit_followup_global"), scope="followup-global", key_func=lambda: "all-clients"
    )(view)


def submit_limits(view):
    """Report submissions share one budget per client across the no-JS form and the API."""
    return limiter.shared_limit(_setting("limit_submit"), scope="submit")(view)
