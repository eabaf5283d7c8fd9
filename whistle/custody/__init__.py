"""Custody of the record: the audit chain, key ceremonies, the offline workstation's
exchange and retention (purges)."""
