#!/usr/bin/env bash
# Back up whistle's database, then prove the backup restores.
#
#   deploy/backup.sh [--out DIR] [--with-secret] [--no-verify] [--scratch-url URL]
#
# Reads the same environment as the service (WHISTLE_DATABASE_URL, WHISTLE_INSTANCE_DIR,
# WHISTLE_INSTANCE_SECRET_FILE; under systemd: `set -a; . /etc/whistle/whistle.env`).
# Writes DIR/whistle-backup-YYYY-MM-DD.tar (mode 0600) and prints its path. It holds the
# database only: a pg_dump of the whistle database, or a consistent copy of the SQLite file,
# plus a manifest (row counts, SHA-256). No logs, no settings, and the instance secret only
# with --with-secret (back that up once, offline, with the committee key instead).
#
# Encryption at rest: reports, messages and files are sealed envelopes and encrypted chunks
# in the database, so they are ciphertext in the backup as well. Routing codes, days,
# statuses, member accounts and the audit log are not: store the file like the database,
# and encrypt it before it leaves the host, e.g. `age -r KEY FILE > FILE.age`.
#
# Before the path is printed the backup is restored into a scratch database (PostgreSQL: a
# new database on the same server, or the one --scratch-url names, dropped afterwards; the
# role needs CREATEDB) and checked: every table's row count equals the manifest's and
# `whistle audit verify` passes. Exit status 0 only for a verified backup.
# (WHISTLE_PYTHON: the Python with whistle installed; default .venv/bin/python.)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${WHISTLE_PYTHON:-$here/../.venv/bin/python}"
[ -x "$python" ] || python=python3
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
exec "$python" "$here/backup.py" backup "$@"
