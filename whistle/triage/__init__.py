"""Triage: routing, risk grades and deadlines, evaluated from the committee's rules.

Pure functions over ``whistle.rules.parse.Rules`` and a case's clear routing header: no Flask,
no database. The web and CLI layers call them and record what they decide.
"""

from whistle.triage.deadlines import WorkCalendar, due_dates, urgency
from whistle.triage.risk import GRADES, Assessment, assess, explain
from whistle.triage.routing import Route, can_grant, route

__all__ = [
    "GRADES",
    "Assessment",
    "Route",
    "WorkCalendar",
    "assess",
    "can_grant",
    "due_dates",
    "explain",
    "route",
    "urgency",
]
