#!/usr/bin/env bash
# Restore a whistle backup made by deploy/backup.sh, or only try it.
#
#   deploy/restore.sh --verify BACKUP.tar [--scratch-url URL]
#       restore into a scratch database, compare every table's row count with the
#       manifest, run `whistle audit verify`, drop the scratch database. Changes nothing.
#   deploy/restore.sh BACKUP.tar [--with-secret]
#       restore into the configured database (WHISTLE_DATABASE_URL; it must be empty:
#       `createdb whistle` first, or a new SQLite path), then the same checks on it.
#       --with-secret also installs the backup's instance secret where the service expects
#       it (WHISTLE_INSTANCE_SECRET_FILE or WHISTLE_INSTANCE_DIR/instance-secret), and
#       refuses to replace a different one.
#
# Stop the service (or point it elsewhere) while restoring; start it afterwards: it applies
# any newer migrations itself.
# (WHISTLE_PYTHON: the Python with whistle installed; default .venv/bin/python.)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${WHISTLE_PYTHON:-$here/../.venv/bin/python}"
[ -x "$python" ] || python=python3
case "${1:-}" in
  -h|--help|"")
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    [ -n "${1:-}" ]; exit ;;
  --verify)
    shift; exec "$python" "$here/backup.py" verify "$@" ;;
  *)
    exec "$python" "$here/backup.py" restore "$@" ;;
esac
