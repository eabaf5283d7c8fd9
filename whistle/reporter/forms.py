"""Reading and checking the reporter's form fields (no-JS pages and the API share them)."""
from flask import current_app
from flask_babel import gettext as _

from whistle.catalog import CATEGORIES, ROUTING_FIELDS, routing_problems

TEXT_FIELDS = {"accused_name": 200, "accused_post": 200, "period": 200, "place": 200}


def rules():
    """The loaded rules of this app."""
    return current_app.extensions["whistle.rules"]


def read_report_form(form, channel: str) -> tuple[dict, dict, dict]:
    """(routing header, sealed body, errors by field) from a submitted report form."""
    cfg = current_app.config["WHISTLE"]
    header = {name: (form.get(name) or "").strip() for name in ROUTING_FIELDS if name != "channel"}
    header["channel"] = channel
    errors = {}
    for name in routing_problems(header, rules().department_codes):
        errors[name] = _("Please choose one of the options.")
    body = {name: (form.get(name) or "").strip()[:limit] for name, limit in TEXT_FIELDS.items()}
    narrative = (form.get("narrative") or "").strip()
    if not narrative:
        errors["narrative"] = _("Please describe what happened.")
    elif len(narrative) > cfg.max_narrative_chars:
        errors["narrative"] = _("Please shorten the description to at most %(n)d characters.",
                                n=cfg.max_narrative_chars)
    body["narrative"] = narrative
    return header, body, errors


def valid_channel(channel: str) -> bool:
    """True for a channel that takes reports through this form."""
    return channel in CATEGORIES
