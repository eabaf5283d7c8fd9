"""Reading and checking the reporter's form fields (no-JS pages and the API share them)."""

from flask_babel import gettext as _

from whistle.catalog import ACCUSED_FIELD, CATEGORIES, NOTICE_CHANNEL, ROUTING_FIELDS, routing_problems
from whistle.cases.uploads import form_text
from whistle.services import services

TEXT_FIELDS = {"accused_name": 200, "accused_post": 200, "period": 200, "place": 200}
IDENTITY_FIELDS = {"identity_name": 100, "identity_contact": 200}  # form field -> limit


def read_report_form(form, channel: str, fixed: dict | None = None) -> tuple[dict, dict, dict]:
    """(routing header, sealed body, errors by field) from a submitted report form.
    ``fixed`` routing fields come from the page, not the form (a notice's id and department)."""
    cfg = services().config
    header = {name: (form.get(name) or "").strip() for name in ROUTING_FIELDS if name != "channel"}
    header["channel"] = channel
    header.update(fixed or {})
    accused = (form.get(ACCUSED_FIELD) or "").strip()
    if accused:  # optional: a committee member named as the accused, kept from the case
        header[ACCUSED_FIELD] = accused
    errors = {}
    for name in routing_problems(header, services().rules.department_codes):
        errors[name] = _("Please choose one of the options.")
    if accused and ACCUSED_FIELD not in errors and accused not in services().rules.member_usernames:
        errors[ACCUSED_FIELD] = _("Please choose one of the options.")
    body = {name: form_text(form, name)[:limit] for name, limit in TEXT_FIELDS.items()}
    narrative = form_text(form, "narrative")
    if not narrative:
        errors["narrative"] = _("Please describe what happened.")
    elif len(narrative) > cfg.max_narrative_chars:
        errors["narrative"] = _(
            "Please shorten the description to at most %(n)d characters.", n=cfg.max_narrative_chars
        )
    body["narrative"] = narrative
    return header, body, errors


def read_identity(form) -> tuple[dict | None, dict]:
    """(identity or None, errors by field) from the optional "give your name" section: a
    name makes it a real-name report; a contact without a name is a mistake, not a name."""
    name, contact = (form_text(form, field) for field in IDENTITY_FIELDS)
    errors = {}
    for field, value in zip(IDENTITY_FIELDS, (name, contact)):
        if len(value) > IDENTITY_FIELDS[field]:
            errors[field] = _("Please shorten this to at most %(n)d characters.", n=IDENTITY_FIELDS[field])
    if contact and not name:
        errors["identity_name"] = _("Give your name as well, or leave both fields empty to stay anonymous.")
    if errors or not name:
        return None, errors
    return {"name": name, "contact": contact}, {}


def valid_channel(channel: str) -> bool:
    """True for a channel that takes reports through this form (comments on a notice are
    made from the notice's own page, /report/notice/<id>)."""
    return channel in CATEGORIES and channel != NOTICE_CHANNEL
