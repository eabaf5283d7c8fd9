"""Extension objects created once and bound to the app in create_app."""
from flask_limiter import Limiter

from whistle.privacy import client_key

# Keyed on an HMAC of the address under a daily in-memory key (whistle.privacy).
limiter = Limiter(key_func=client_key, default_limits=[], headers_enabled=False)
