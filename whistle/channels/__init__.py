"""Channels besides the plain report: pre-appointment notices and surveys."""
