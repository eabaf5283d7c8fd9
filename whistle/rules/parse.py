"""The committee's rules file (TOML): loaded and validated once, at start-up.

Rules are data: the committee edits the file, whistle only evaluates it (routing, risk
grades and deadlines live in ``whistle.triage``). Every problem is reported with the file,
the table or entry and the field, e.g.::

    rules.toml: departments #3 (housing): supervising_unit 'x' is not a unit

``check(path)`` returns every problem (for ``whistle rules check FILE``); ``parse`` and
``load`` raise ``RulesError`` with the first one.

Schema (see ``whistle/data/rules.example.toml`` for a complete example):

``[committee]``
    ``name`` (languages), ``unit`` (this committee's own unit, local), ``superior`` (the
    superior body, an external unit with a ``public_key``).
``[[units]]``
    ``code``, ``name``, ``parent`` (a unit code; absent at the top), ``external = true``
    for a body outside this installation, ``public_key`` (base64url X25519, 32 bytes; only
    on external units; required on ``committee.superior``, because held cases are sealed to
    it). The only external unit a local unit may name as ``parent`` is ``committee.superior``.
``[[departments]]``
    ``code``, ``name``, ``supervising_unit`` (a local unit), ``is_committee = true`` on at
    most one department: the committee's own organ.
``[[members]]``
    ``username`` (2-64 of [a-z0-9_.-]), ``unit`` (a local unit), ``departments`` (their own
    departments: they never receive cases about them), ``role`` (member, unit_lead,
    admin, overseer: the supervising body's oversight view, never case content),
    ``custodian = true`` (optional: approves written requests to disclose a real-name
    reporter's identity, which is sealed to the custodians and the committee key only).
``[channels.<channel>]`` (optional)
    ``unit`` (fixed handling unit for the channel), ``also_units`` (more local units).
``[risk]``
    ``thresholds = { high = N, medium = M }`` and ``[risk.weights.<field>]`` for category,
    money_band, frequency, accused_rank and evidence: every code of whistle.catalog has an
    integer weight.
``[deadlines]``
    working days: ``[deadlines.default.<grade>]`` with ``acknowledge`` and ``feedback`` for
    every grade (high, medium, low); ``[deadlines.<channel>.<grade>]`` overrides either
    value; ``real_name_acceptance``, ``real_name_result``, ``due_soon``.
``[calendar]`` (optional)
    ``extra_holidays`` and ``extra_workdays``: lists of TOML dates that override the
    built-in Chinese holiday calendar (for years it does not know yet, or local changes).
``[surveys]`` (optional)
    ``min_cell`` (k, default 5): every published figure (statistics, survey results) below
    k shows as "fewer than k" (whistle.transparency.suppression); ``unit``: a local unit whose members
    manage integrity surveys, besides every unit lead; ``texts_kept_days`` (default 365):
    days after a survey's period ends that its sealed free-text answers are kept before
    ``whistle retention purge`` deletes them.
``[enrolment]`` (optional)
    ``confirmers``: who may confirm a new or renewed enrolment, after comparing the new key's
    fingerprint with the person: any of ``admin`` (another admin), ``overseer``,
    ``unit_lead`` (the lead of the enrolled person's unit). Default all three. Never the
    inviter nor the enrolled person themselves.
"""

import dataclasses
import datetime
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from crypto.encoding import unb64u
from crypto.errors import FormatError
from whistle import catalog
from whistle.rules import witnesses
from whistle.rules.witnesses import WitnessRules

LANGUAGES = ("zh_Hans", "zh_Hant", "en")
ROLES = ("member", "unit_lead", "admin", "overseer")  # overseer: the oversight view only, never cases
GRADES = ("high", "medium", "low")
DEADLINE_KINDS = ("acknowledge", "feedback")

# Codes and usernames are stored in String(64) columns (cases.department, handling_unit,
# members.username): a longer one would pass here and fail the first insert.
_CODE = re.compile(r"[A-Za-z0-9_]{1,64}\Z")  # \Z, not $: no trailing newline (used with .match)
USERNAME = re.compile(r"[a-z0-9_.-]{2,64}\Z")  # also what whistle.committee.members accepts for an invitation
# A deadline beyond about fourteen years is a typo; counting it out day by day for every
# report would take seconds and end past the last date Python knows.
MAX_WORK_DAYS = 3650


def risk_codes() -> dict:
    """Risk field -> the codes that must carry a weight (category: every channel's codes)."""
    categories = {}
    for codes in catalog.CATEGORIES.values():
        categories.update(dict.fromkeys(codes))
    return {
        "category": tuple(categories),
        "money_band": tuple(catalog.MONEY_BANDS),
        "frequency": tuple(catalog.FREQUENCIES),
        "accused_rank": tuple(catalog.RANKS),
        "evidence": tuple(catalog.EVIDENCE),
    }


RISK_FIELDS = ("category", "money_band", "frequency", "accused_rank", "evidence")


class RulesError(Exception):
    """Raised when the rules file is unreadable or invalid; the message says where."""


@dataclass(frozen=True)
class Department:
    """A department that can be named as the accused's unit."""

    code: str
    names: dict
    supervising_unit: str = ""
    is_committee: bool = False

    def name(self, language: str) -> str:
        """The department's name in ``language`` (falls back to Simplified Chinese)."""
        return self.names.get(language) or self.names["zh_Hans"]


@dataclass(frozen=True)
class Unit:
    """A handling unit (a room, a stationed group, the commission) or an external body."""

    code: str
    names: dict
    parent: str | None = None
    external: bool = False
    public_key: bytes | None = None

    def name(self, language: str) -> str:
        """The unit's name in ``language`` (falls back to Simplified Chinese)."""
        return self.names.get(language) or self.names["zh_Hans"]


@dataclass(frozen=True)
class Member:
    """A committee member: their unit, their own departments (conflicts) and role."""

    username: str
    unit: str
    departments: tuple = ()
    role: str = "member"
    custodian: bool = False
    email: str | None = None  # optional: content-free notifications (a count of new cases)


@dataclass(frozen=True)
class ChannelRule:
    """A channel whose cases always go to a fixed unit (and possibly more units)."""

    code: str
    unit: str
    also_units: tuple = ()


@dataclass(frozen=True)
class RiskRules:
    """Thresholds {high, medium} and weights {field: {code: points}}."""

    thresholds: dict
    weights: dict


@dataclass(frozen=True)
class DeadlineRules:
    """Working-day deadlines: {channel or 'default': {grade: {acknowledge, feedback}}}."""

    periods: dict
    real_name_acceptance: int = 15
    real_name_result: int = 15
    due_soon: int = 3

    def period(self, channel: str, grade: str) -> dict:
        """{'acknowledge': n, 'feedback': m} for ``channel`` and ``grade`` (default fallback)."""
        if grade not in GRADES:
            raise ValueError(f"unknown grade {grade!r}")
        merged = dict(self.periods["default"][grade])
        merged.update(self.periods.get(channel, {}).get(grade, {}))
        return merged


@dataclass(frozen=True)
class CalendarRules:
    """Local corrections to the holiday calendar."""

    extra_holidays: frozenset = frozenset()
    extra_workdays: frozenset = frozenset()


@dataclass(frozen=True)
class Rules:
    """The parsed rules."""

    committee_names: dict
    departments: tuple
    committee_unit: str = ""
    superior: str = ""
    units: tuple = ()
    members: tuple = ()
    channels: dict = field(default_factory=dict)
    risk: RiskRules | None = None
    deadlines: DeadlineRules | None = None
    calendar: CalendarRules = CalendarRules()
    retention: dict = field(default_factory=lambda: {"default": 1825})
    surveys: "SurveyRules" = None  # set in __post_init__ when not given
    confirmers: tuple = ("admin", "overseer", "unit_lead")  # [enrolment] confirmers
    witnessing: WitnessRules = WitnessRules()  # whistle.rules.witnesses

    def __post_init__(self) -> None:
        if self.surveys is None:
            object.__setattr__(self, "surveys", SurveyRules())

    @property
    def department_codes(self) -> dict:
        """code -> Department, in file order."""
        return {d.code: d for d in self.departments}

    @property
    def unit_codes(self) -> dict:
        """code -> Unit, in file order."""
        return {u.code: u for u in self.units}

    @property
    def member_usernames(self) -> dict:
        """username -> Member, in file order."""
        return {m.username: m for m in self.members}

    def member(self, username: str) -> Member | None:
        """The rules-file entry of ``username``, or None for someone not listed."""
        return next((m for m in self.members if m.username == username), None)

    def superior_public_key(self) -> bytes | None:
        """The public key reports held for the superior body are sealed to."""
        unit = self.unit_codes.get(self.superior)
        return unit.public_key if unit is not None else None

    @property
    def committee_department(self) -> Department | None:
        """The department that is the committee's own organ (is_committee), if any."""
        return next((d for d in self.departments if d.is_committee), None)


class _Problems:
    """Collects every problem, each prefixed with the source file."""

    def __init__(self, source: str):
        self.source = source
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}")


def _names(value, where: str, problems: _Problems) -> dict:
    if not isinstance(value, dict):
        problems.add(where, "'name' must be a table of languages, e.g. name = { zh_Hans = \"…\" }")
        return {lang: "?" for lang in LANGUAGES}
    missing = [lang for lang in LANGUAGES if not isinstance(value.get(lang), str) or not value[lang].strip()]
    if missing:
        problems.add(where, f"name is missing for {', '.join(missing)}")
    unknown = [key for key in value if key not in LANGUAGES]
    if unknown:
        problems.add(where, f"name has unknown language {', '.join(map(repr, unknown))} (use {', '.join(LANGUAGES)})")
    return {lang: value.get(lang) if isinstance(value.get(lang), str) else "?" for lang in LANGUAGES}


def _unknown_keys(entry: dict, allowed, where: str, problems: _Problems) -> None:
    for key in entry:
        if key not in allowed:
            problems.add(where, f"unknown field {key!r} (expected {', '.join(allowed)})")


def _bool(entry: dict, key: str, where: str, problems: _Problems) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        problems.add(where, f"{key} must be true or false")
        return False
    return value


def _entries(data: dict, key: str, problems: _Problems) -> list:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        problems.add("", f"{key} must be written as [[{key}]] tables")
        return []
    return value


def _work_days(value, where: str, name: str, problems: _Problems) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.add(where, f"{name} must be a whole number of working days, at least 1 (got {value!r})")
        return None
    if value > MAX_WORK_DAYS:
        problems.add(where, f"{name} must be at most {MAX_WORK_DAYS} working days (got {value})")
        return None
    return value


class _Parser:
    def __init__(self, data: dict, problems: _Problems):
        self.data = data
        self.p = problems

    # -- [[units]] -------------------------------------------------------------------------
    def units(self) -> dict:
        units = {}
        raw_keys = {}
        for i, entry in enumerate(_entries(self.data, "units", self.p), start=1):
            code = entry.get("code")
            where = f"units #{i}" + (f" ({code})" if isinstance(code, str) else "")
            _unknown_keys(entry, ("code", "name", "parent", "external", "public_key"), where, self.p)
            if not isinstance(code, str) or not _CODE.match(code):
                self.p.add(where, "'code' must be 1-64 letters, digits and underscores")
                continue
            if code in units:
                self.p.add(where, f"code {code!r} is used twice")
                continue
            names = _names(entry.get("name"), where, self.p)
            parent = entry.get("parent")
            if parent is not None and not isinstance(parent, str):
                self.p.add(where, "parent must be a unit code")
                parent = None
            external = _bool(entry, "external", where, self.p)
            key = None
            if "public_key" in entry:
                if not external:
                    self.p.add(
                        where, "public_key is only for external units (members of local units use their own keys)"
                    )
                else:
                    try:
                        key = unb64u(entry["public_key"])
                    except FormatError:
                        key = b""
                    if len(key) != 32 or key == bytes(32):
                        self.p.add(where, "public_key must be a base64url X25519 public key (32 bytes)")
                        key = None
            units[code] = Unit(code, names, parent, external, key)
            raw_keys[code] = where
        for code, unit in units.items():
            if unit.parent is not None and unit.parent not in units:
                self.p.add(raw_keys[code], f"parent {unit.parent!r} is not a unit")
        reported = set()
        for code in units:
            path, cur = [], code
            while cur is not None and cur in units and cur not in path:
                path.append(cur)
                cur = units[cur].parent
            if cur is not None and cur in path:
                cycle = path[path.index(cur) :]
                if not reported.intersection(cycle):
                    reported.update(cycle)
                    self.p.add(raw_keys[cycle[0]], "parent cycle: " + " -> ".join(cycle + [cycle[0]]))
        # A case about the head of a unit whose level above is external is held for that level
        # and sealed to the superior's key (whistle.cases.store): any other external body would be
        # named as the holder while only the superior could open the case. (The superior's own
        # key is checked with [committee].)
        committee = self.data.get("committee")
        superior = committee.get("superior") if isinstance(committee, dict) else None
        for code, unit in units.items():
            parent = units.get(unit.parent)
            if not unit.external and parent is not None and parent.external and parent.code != superior:
                self.p.add(
                    raw_keys[code],
                    f"its parent {parent.code!r} is external but not the superior "
                    f"body ([committee] superior = {superior!r}): cases about "
                    "the head of this unit are held sealed to the superior's "
                    "key, so an external level above must be the superior",
                )
        return units

    def local_unit(self, units: dict, value, where: str, name: str) -> str | None:
        if not isinstance(value, str):
            self.p.add(where, f"{name} must be a unit code")
            return None
        if value not in units:
            self.p.add(where, f"{name} {value!r} is not a unit")
            return None
        if units[value].external:
            self.p.add(where, f"{name} {value!r} is an external unit")
            return None
        return value

    # -- [committee] -------------------------------------------------------------------------
    def committee(self, units: dict):
        committee = self.data.get("committee")
        where = "[committee]"
        if not isinstance(committee, dict):
            self.p.add("", "a [committee] table with a name is required")
            return {lang: "?" for lang in LANGUAGES}, "", ""
        _unknown_keys(committee, ("name", "unit", "superior"), where, self.p)
        names = _names(committee.get("name"), where, self.p)
        own = ""
        if "unit" not in committee:
            self.p.add(where, "unit (the code of this committee's own unit) is required")
        else:
            own = self.local_unit(units, committee["unit"], where, "unit") or ""
        superior = ""
        value = committee.get("superior")
        if value is None:
            self.p.add(where, "superior (the code of the superior body, an external unit) is required")
        elif not isinstance(value, str) or value not in units:
            self.p.add(where, f"superior {value!r} is not a unit")
        elif not units[value].external:
            self.p.add(where, f"superior {value!r} must be an external unit (external = true)")
        elif units[value].public_key is None:
            self.p.add(
                where, f"superior {value!r} has no public_key: reports held for the superior could not be accepted"
            )
        else:
            superior = value
        return names, own, superior

    # -- [[departments]] -----------------------------------------------------------------------
    def departments(self, units: dict) -> dict:
        departments = {}
        committee_organs = []
        for i, entry in enumerate(_entries(self.data, "departments", self.p), start=1):
            code = entry.get("code")
            where = f"departments #{i}" + (f" ({code})" if isinstance(code, str) else "")
            _unknown_keys(entry, ("code", "name", "supervising_unit", "is_committee"), where, self.p)
            if not isinstance(code, str) or not _CODE.match(code):
                self.p.add(where, "'code' must be 1-64 letters, digits and underscores")
                continue
            if code in departments:
                self.p.add(where, f"code {code!r} is used twice")
                continue
            names = _names(entry.get("name"), where, self.p)
            if "supervising_unit" not in entry:
                self.p.add(where, "supervising_unit is required")
                unit = ""
            else:
                unit = self.local_unit(units, entry["supervising_unit"], where, "supervising_unit") or ""
            is_committee = _bool(entry, "is_committee", where, self.p)
            if is_committee:
                committee_organs.append(code)
            departments[code] = Department(code, names, unit, is_committee)
        if not departments:
            self.p.add("", "at least one [[departments]] entry is required")
        if len(committee_organs) > 1:
            self.p.add("departments", "is_committee is set on more than one department: " + ", ".join(committee_organs))
        return departments

    # -- [[members]] -------------------------------------------------------------------------
    def members(self, units: dict, departments: dict) -> dict:
        members = {}
        for i, entry in enumerate(_entries(self.data, "members", self.p), start=1):
            username = entry.get("username")
            where = f"members #{i}" + (f" ({username})" if isinstance(username, str) else "")
            _unknown_keys(entry, ("username", "unit", "departments", "role", "custodian", "email"), where, self.p)
            if not isinstance(username, str) or not USERNAME.match(username):
                self.p.add(where, "username must be 2-64 of a-z, 0-9, '_', '.', '-'")
                continue
            if username in members:
                self.p.add(where, f"username {username!r} is used twice")
                continue
            if "unit" not in entry:
                self.p.add(where, "unit is required")
                unit = ""
            else:
                unit = self.local_unit(units, entry["unit"], where, "unit") or ""
            own = entry.get("departments", [])
            if not isinstance(own, list) or not all(isinstance(d, str) for d in own):
                self.p.add(where, "departments must be a list of department codes")
                own = []
            for code in own:
                if code not in departments:
                    self.p.add(where, f"departments: {code!r} is not a department")
            role = entry.get("role")
            if role not in ROLES:
                self.p.add(where, f"role must be one of {', '.join(ROLES)} (got {role!r})")
                role = "member"
            custodian = _bool(entry, "custodian", where, self.p)
            email = entry.get("email")
            if email is not None and (
                not isinstance(email, str) or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email)
            ):
                self.p.add(where, f"email {email!r} is not an e-mail address")
                email = None
            members[username] = Member(username, unit, tuple(dict.fromkeys(own)), role, custodian, email)
        return members

    # -- [channels] --------------------------------------------------------------------------
    def channels(self, units: dict) -> dict:
        table = self.data.get("channels", {})
        if not isinstance(table, dict):
            self.p.add("", "channels must be written as [channels.<channel>] tables")
            return {}
        channels = {}
        for code, entry in table.items():
            where = f"[channels.{code}]"
            if code not in catalog.CHANNELS:
                self.p.add(where, f"{code!r} is not a channel (known: {', '.join(catalog.CHANNELS)})")
                continue
            if not isinstance(entry, dict):
                self.p.add(where, "must be a table with a unit")
                continue
            _unknown_keys(entry, ("unit", "also_units"), where, self.p)
            if "unit" not in entry:
                self.p.add(where, "unit is required")
                continue
            unit = self.local_unit(units, entry["unit"], where, "unit")
            also = entry.get("also_units", [])
            if not isinstance(also, list):
                self.p.add(where, "also_units must be a list of unit codes")
                also = []
            checked = []
            for value in also:
                code_ok = self.local_unit(units, value, where, "also_units:")
                if code_ok is None:
                    continue
                if code_ok == unit or code_ok in checked:
                    self.p.add(where, f"also_units: {code_ok!r} is listed twice")
                    continue
                checked.append(code_ok)
            if unit is not None:
                channels[code] = ChannelRule(code, unit, tuple(checked))
        return channels

    # -- [risk] ------------------------------------------------------------------------------
    def risk(self) -> RiskRules | None:
        risk = self.data.get("risk")
        if not isinstance(risk, dict):
            self.p.add("", "a [risk] table with thresholds and weights is required")
            return None
        _unknown_keys(risk, ("thresholds", "weights"), "[risk]", self.p)
        thresholds = risk.get("thresholds")
        ok = True
        if not isinstance(thresholds, dict):
            self.p.add("[risk]", "thresholds = { high = N, medium = M } is required")
            thresholds, ok = {}, False
        else:
            _unknown_keys(thresholds, ("high", "medium"), "[risk] thresholds", self.p)
            for name in ("high", "medium"):
                value = thresholds.get(name)
                if isinstance(value, bool) or not isinstance(value, int):
                    self.p.add("[risk] thresholds", f"{name} must be a whole number of points")
                    ok = False
            if ok and thresholds["high"] <= thresholds["medium"]:
                self.p.add(
                    "[risk] thresholds",
                    f"high ({thresholds['high']}) must be greater than medium ({thresholds['medium']})",
                )
                ok = False
        weights = risk.get("weights")
        if not isinstance(weights, dict):
            self.p.add("[risk]", "[risk.weights.<field>] tables are required for " + ", ".join(RISK_FIELDS))
            return None
        expected = risk_codes()
        parsed = {}
        for name in weights:
            if name not in expected:
                self.p.add(f"[risk.weights.{name}]", f"unknown field (expected {', '.join(RISK_FIELDS)})")
        for name in RISK_FIELDS:
            where = f"[risk.weights.{name}]"
            table = weights.get(name)
            if not isinstance(table, dict):
                self.p.add(where, "is missing (every code needs a weight: " + ", ".join(expected[name]) + ")")
                ok = False
                continue
            missing = [code for code in expected[name] if code not in table]
            if missing:
                self.p.add(where, "no weight for " + ", ".join(missing))
                ok = False
            unknown = [code for code in table if code not in expected[name]]
            if unknown:
                self.p.add(where, "unknown code " + ", ".join(map(repr, unknown)))
            for code, value in table.items():
                if code in expected[name] and (isinstance(value, bool) or not isinstance(value, int)):
                    self.p.add(where, f"{code} must be a whole number of points (got {value!r})")
                    ok = False
            parsed[name] = {code: table[code] for code in expected[name] if code in table}
        return RiskRules(dict(thresholds), parsed) if ok else None

    # -- [deadlines] -------------------------------------------------------------------------
    def deadlines(self) -> DeadlineRules | None:
        table = self.data.get("deadlines")
        if not isinstance(table, dict):
            self.p.add("", "a [deadlines] table is required ([deadlines.default.high] acknowledge = …)")
            return None
        ok = True
        scalars = {"real_name_acceptance": 15, "real_name_result": 15, "due_soon": 3}
        values = {}
        for name, default in scalars.items():
            if name not in table:
                values[name] = default
                continue
            value = table[name]
            if name == "due_soon" and value == 0 and not isinstance(value, bool):
                values[name] = 0
                continue
            values[name] = _work_days(value, "[deadlines]", name, self.p)
            ok = ok and values[name] is not None
        periods = {}
        for channel, grades in table.items():
            if channel in scalars:
                continue
            where = f"[deadlines.{channel}]"
            if channel != "default" and channel not in catalog.CHANNELS:
                self.p.add(
                    where, f"{channel!r} is neither 'default' nor a channel (known: {', '.join(catalog.CHANNELS)})"
                )
                continue
            if not isinstance(grades, dict):
                self.p.add(where, "must be a table of grades (high, medium, low)")
                ok = False
                continue
            periods[channel] = {}
            for grade, kinds in grades.items():
                gwhere = f"[deadlines.{channel}.{grade}]"
                if grade not in GRADES:
                    self.p.add(gwhere, f"{grade!r} is not a grade (use {', '.join(GRADES)})")
                    continue
                if not isinstance(kinds, dict):
                    self.p.add(gwhere, "must be a table: acknowledge = N, feedback = M")
                    ok = False
                    continue
                _unknown_keys(kinds, DEADLINE_KINDS, gwhere, self.p)
                parsed = {}
                for kind in DEADLINE_KINDS:
                    if kind in kinds:
                        days = _work_days(kinds[kind], gwhere, kind, self.p)
                        if days is None:
                            ok = False
                        else:
                            parsed[kind] = days
                periods[channel][grade] = parsed
        default = periods.get("default")
        if default is None:
            if "default" not in table:
                self.p.add("[deadlines]", "[deadlines.default.<grade>] tables are required for " + ", ".join(GRADES))
            return None
        for grade in GRADES:
            if grade in table["default"] and not isinstance(table["default"][grade], dict):
                continue  # already reported
            missing = [k for k in DEADLINE_KINDS if k not in default.get(grade, {})]
            if missing:
                self.p.add(f"[deadlines.default.{grade}]", "missing " + ", ".join(missing))
                ok = False
        if not ok:
            return None
        for channel, grades in periods.items():
            for grade in GRADES:
                merged = dict(default[grade])
                merged.update(grades.get(grade, {}))
                if merged["acknowledge"] > merged["feedback"]:
                    self.p.add(
                        f"[deadlines.{channel}.{grade}]",
                        f"acknowledge ({merged['acknowledge']}) is later than feedback ({merged['feedback']})",
                    )
        return DeadlineRules(periods, **values)

    # -- [calendar] --------------------------------------------------------------------------
    def calendar(self) -> CalendarRules:
        table = self.data.get("calendar", {})
        if not isinstance(table, dict):
            self.p.add("", "calendar must be a [calendar] table")
            return CalendarRules()
        _unknown_keys(table, ("extra_holidays", "extra_workdays"), "[calendar]", self.p)
        lists = {}
        for name in ("extra_holidays", "extra_workdays"):
            value = table.get(name, [])
            days = set()
            if not isinstance(value, list):
                self.p.add("[calendar]", f"{name} must be a list of dates, e.g. [2027-02-08]")
                value = []
            for item in value:
                if isinstance(item, datetime.datetime) or not isinstance(item, datetime.date):
                    self.p.add(
                        "[calendar]", f"{name}: {item!r} is not a date (write 2027-02-08, without quotes or time)"
                    )
                else:
                    days.add(item)
            lists[name] = frozenset(days)
        both = sorted(lists["extra_holidays"] & lists["extra_workdays"])
        if both:
            self.p.add("[calendar]", "both a holiday and a workday: " + ", ".join(d.isoformat() for d in both))
        return CalendarRules(lists["extra_holidays"], lists["extra_workdays"])

    # -- [retention] -------------------------------------------------------------------------
    def retention(self) -> dict:
        """Days a closed case is kept, by disposition: {"default": 1825, "not_accepted": 365}."""
        table = self.data.get("retention", {"default": 1825})
        if not isinstance(table, dict):
            self.p.add("", "retention must be a [retention] table of days by disposition")
            return {"default": 1825}
        _unknown_keys(table, RETENTION_KEYS, "[retention]", self.p)
        periods = {}
        for key, value in table.items():
            if key in RETENTION_KEYS:
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    self.p.add("[retention]", f"{key} must be a whole number of days (at least 1)")
                else:
                    periods[key] = value
        periods.setdefault("default", 1825)
        return periods


_TOP_LEVEL = (
    "committee",
    "units",
    "departments",
    "members",
    "channels",
    "risk",
    "deadlines",
    "calendar",
    "retention",
    "surveys",
    "enrolment",
    "witnesses",
    "witnessing",
)


@dataclass(frozen=True)
class SurveyRules:
    """``[surveys]``: the smallest count any published figure shows as a number
    (``min_cell``, k: counts of 1..k-1 show as "fewer than k", whistle.transparency.suppression), and the
    local unit whose members (besides every unit lead) manage integrity surveys, and how
    long after a survey's period its sealed free text is kept (``texts_kept_days``)."""

    min_cell: int = 5
    unit: str | None = None
    texts_kept_days: int = 365


def _survey_rules(data: dict, units: dict, problems: "_Problems") -> SurveyRules:
    """``[surveys]`` (optional): min_cell = 2..1000 (default 5), unit = a local unit,
    texts_kept_days = 1..36500 (default 365)."""
    table = data.get("surveys", {})
    where = "[surveys]"
    if not isinstance(table, dict):
        problems.add("", "surveys must be a [surveys] table")
        return SurveyRules()
    _unknown_keys(table, ("min_cell", "unit", "texts_kept_days"), where, problems)
    k = table.get("min_cell", 5)
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= 1000:
        problems.add(
            where,
            f"min_cell must be a whole number from 2 to 1000 (got {k!r}): counts "
            "below it are never published as numbers",
        )
        k = 5
    unit = table.get("unit")
    if unit is not None:
        if not isinstance(unit, str) or unit not in units:
            problems.add(where, f"unit {unit!r} is not a unit")
            unit = None
        elif units[unit].external:
            problems.add(where, f"unit {unit!r} is external: it must be a local unit")
            unit = None
    kept = table.get("texts_kept_days", 365)
    if isinstance(kept, bool) or not isinstance(kept, int) or not 1 <= kept <= 36500:
        problems.add(where, f"texts_kept_days must be a whole number of days from 1 to 36500 (got {kept!r})")
        kept = 365
    return SurveyRules(k, unit, kept)


CONFIRMER_KINDS = ("admin", "overseer", "unit_lead")


def _confirmers(data: dict, problems: "_Problems") -> tuple:
    """``[enrolment] confirmers``: a non-empty list drawn from CONFIRMER_KINDS."""
    table = data.get("enrolment", {})
    where = "[enrolment]"
    if not isinstance(table, dict):
        problems.add("", "enrolment must be an [enrolment] table")
        return CONFIRMER_KINDS
    _unknown_keys(table, ("confirmers",), where, problems)
    kinds = table.get("confirmers", list(CONFIRMER_KINDS))
    if not isinstance(kinds, list) or not kinds or any(k not in CONFIRMER_KINDS for k in kinds):
        problems.add(
            where,
            f"confirmers must be a non-empty list of {', '.join(CONFIRMER_KINDS)} "
            f"(got {kinds!r}): someone other than the inviter confirms each enrolment",
        )
        return CONFIRMER_KINDS
    return tuple(dict.fromkeys(kinds))


# Dispositions a retention period may name (the taxonomy of whistle.committee.labels).
RETENTION_KEYS = (
    "default",
    "talk_inquiry",
    "preliminary_verification",
    "hold_pending",
    "conclude",
    "transfer_investigation",
    "not_accepted",
    "duplicate",
)


def _parse(text: str, source: str) -> tuple[Rules | None, list[str]]:
    problems = _Problems(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problems.add("", f"not valid TOML: {exc}")
        return None, problems.items
    except RecursionError:  # tomllib reads nested arrays and tables by recursion
        problems.add("", "not valid TOML: arrays or tables nested too deeply")
        return None, problems.items
    for key in data:
        if key not in _TOP_LEVEL:
            problems.add("", f"unknown table {key!r} (expected {', '.join(_TOP_LEVEL)})")
    parser = _Parser(data, problems)
    units = parser.units()
    names, own, superior = parser.committee(units)
    departments = parser.departments(units)
    members = parser.members(units, departments)
    channels = parser.channels(units)
    risk = parser.risk()
    deadlines = parser.deadlines()
    calendar = parser.calendar()
    retention = parser.retention()
    surveys = _survey_rules(data, units, problems)
    confirmers = _confirmers(data, problems)
    witnessing, witness_problems = witnesses.parse(data)
    for where, message in witness_problems:
        problems.add(where, message)
    if problems.items:
        return None, problems.items
    rules = Rules(
        names,
        tuple(departments.values()),
        own,
        superior,
        tuple(units.values()),
        tuple(members.values()),
        channels,
        risk,
        deadlines,
        calendar,
        retention,
    )
    rules = dataclasses.replace(rules, surveys=surveys, confirmers=confirmers, witnessing=witnessing)
    return rules, []


def parse(text: str, source: str = "rules") -> Rules:
    """Parse and validate rules text; RulesError names the first problem."""
    rules, problems = _parse(text, source)
    if problems:
        raise RulesError(problems[0])
    return rules


def problems_in(text: str, source: str = "rules") -> list[str]:
    """Every problem in rules text (an empty list when it is valid)."""
    return _parse(text, source)[1]


def _read(path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise RulesError(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}") from exc


def check(path) -> list[str]:
    """Every problem in the rules file at ``path`` (empty when valid): for `whistle rules check`."""
    try:
        text = _read(path)
    except RulesError as exc:
        return [str(exc)]
    return problems_in(text, str(path))


def load(path: Path) -> Rules:
    """Read and validate the rules file at ``path``."""
    return parse(_read(path), str(path))
