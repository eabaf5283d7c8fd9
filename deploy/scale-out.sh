#!/usr/bin/env bash
# The scale-out stack on one machine: one PostgreSQL database, one Redis database, and two or
# more gunicorn instances (separate processes on separate ports) sharing them and one
# instance secret, the way several hosts would behind a load balancer.
#
#   deploy/scale-out.sh start  [DBNAME]   create the database, migrate, start the instances
#   deploy/scale-out.sh status [DBNAME]   each instance's /readyz
#   deploy/scale-out.sh stop   [DBNAME]   stop exactly the processes `start` recorded, drop
#                                         the database it created, delete whistle's keys
#                                         in its Redis database
#
# DBNAME (default $WHISTLE_SCALE_DB, else whistle_scale) names the PostgreSQL database and
# the state directory. Settings (environment):
#   WHISTLE_SCALE_PG       any database URL on the server, used to create and drop DBNAME
#                          (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres)
#   WHISTLE_SCALE_REDIS    redis://127.0.0.1:6379/15: use a Redis database of the stack's own
#   WHISTLE_SCALE_PORTS    "8101 8102": one gunicorn instance per port, on 127.0.0.1
#   WHISTLE_SCALE_WORKERS  2: worker processes per instance
#   WHISTLE_SCALE_DIR      instance/scale-out/DBNAME: shared instance dir and secret, pid
#                          files, each instance's error log, and `env` (source it to run the
#                          whistle CLI against the stack, e.g. `whistle keys init`)
#   WHISTLE_VENV_BIN       .venv/bin: where gunicorn, whistle and python are
# Any other WHISTLE_* variable set by the caller (WHISTLE_RULES, receipt cost, limits...)
# reaches every instance unchanged (WHISTLE_REDIS_SETTINGS=warn for a Redis left at its
# defaults, which whistle otherwise refuses: README, Redis settings).
set -euo pipefail
umask 077

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
bin="${WHISTLE_VENV_BIN:-$root/.venv/bin}"
python="$bin/python"

mode="${1:-}"
db="${2:-${WHISTLE_SCALE_DB:-whistle_scale}}"
admin_url="${WHISTLE_SCALE_PG:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}"
redis_url="${WHISTLE_SCALE_REDIS:-redis://127.0.0.1:6379/15}"
ports="${WHISTLE_SCALE_PORTS:-8101 8102}"
workers="${WHISTLE_SCALE_WORKERS:-2}"
state="${WHISTLE_SCALE_DIR:-$root/instance/scale-out/$db}"

die() { echo "scale-out: $*" >&2; exit 1; }
[[ "$db" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "database name must be lower-case letters, digits and _"

# The database URL of DBNAME on the admin URL's server.
db_url() {
  "$python" -c 'import sys; from sqlalchemy.engine import make_url
print(make_url(sys.argv[1]).set(database=sys.argv[2]).render_as_string(hide_password=False))' "$admin_url" "$db"
}

# CREATE or DROP DATABASE through the admin URL (DROP first ends the database's sessions).
pg_admin() {
  "$python" - "$admin_url" "$db" "$1" <<'PY'
import sys
from sqlalchemy import create_engine, text
url, name, action = sys.argv[1:]
engine = create_engine(url, isolation_level="AUTOCOMMIT")
with engine.connect() as conn:
    if action == "create":
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    else:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
engine.dispose()
PY
}

# Delete what whistle keeps in the stack's Redis database (rate-limit counters, their daily
# key, member sessions) and nothing else.
redis_clean() {
  "$python" - "$redis_url" <<'PY'
import sys
import redis
r = redis.Redis.from_url(sys.argv[1])
for pattern in ("LIMITS:*", "whistle:*"):
    keys = list(r.scan_iter(pattern, count=1000))
    if keys:
        r.delete(*keys)
PY
}

wait_healthy() {  # port pid
  "$python" - "$1" "$2" <<'PY'
import os, sys, time, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(f"the instance on port {port} exited")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            if resp.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit(f"the instance on port {port} did not answer within 60 s")
PY
}

# A pid of ours: alive, and the gunicorn we started on that port (not a recycled pid).
ours() {  # pid port
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -q -- "gunicorn.*--bind 127.0.0.1:$2 "
}

stop() {
  local pidfile pid port i
  if [ -d "$state" ]; then
    for pidfile in "$state"/*.pid; do
      [ -e "$pidfile" ] || continue
      port="$(basename "$pidfile" .pid)"
      pid="$(cat "$pidfile" 2>/dev/null || true)"
      if [[ "$pid" =~ ^[0-9]+$ ]] && ours "$pid" "$port"; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 150); do ours "$pid" "$port" || break; sleep 0.2; done
        if ours "$pid" "$port"; then kill -KILL "$pid" 2>/dev/null || true; fi
        echo "stopped the instance on 127.0.0.1:$port (pid $pid)"
      fi
      rm -f "$pidfile"
    done
  fi
  # Only a database this script created (recorded at start) is ever dropped.
  if [ -f "$state/created-database" ] && [ "$(cat "$state/created-database")" = "$db" ]; then
    pg_admin drop
    rm -f "$state/created-database"
    echo "dropped database $db"
  fi
  if [ -f "$state/redis" ]; then
    redis_url="$(cat "$state/redis")"
    redis_clean
    rm -f "$state/redis"
  fi
  rm -f "$state/env" "$state/instance-secret"
}

start() {
  [ -x "$bin/gunicorn" ] || die "no gunicorn in $bin (make install)"
  if [ -f "$state/created-database" ] || compgen -G "$state/*.pid" >/dev/null; then
    die "a stack named $db is running or was not stopped: deploy/scale-out.sh stop $db"
  fi
  mkdir -p "$state"
  chmod 700 "$state"
  started=0
  trap 'if [ "$started" = 0 ]; then echo "scale-out: start failed; cleaning up" >&2; stop >&2; fi' EXIT

  pg_admin create
  echo "$db" > "$state/created-database"
  echo "$redis_url" > "$state/redis"
  "$python" -c 'import os, sys, secrets
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, secrets.token_bytes(32)); os.close(fd)' "$state/instance-secret"

  local url
  url="$(db_url)"
  export WHISTLE_DATABASE_URL="$url"
  export WHISTLE_RATELIMIT_STORAGE="$redis_url"
  export WHISTLE_INSTANCE_DIR="$state"
  export WHISTLE_INSTANCE_SECRET_FILE="$state/instance-secret"
  {
    echo "# source this to run the whistle CLI against the $db stack"
    for name in WHISTLE_DATABASE_URL WHISTLE_RATELIMIT_STORAGE WHISTLE_INSTANCE_DIR WHISTLE_INSTANCE_SECRET_FILE; do
      printf 'export %s=%q\n' "$name" "${!name}"
    done
  } > "$state/env"

  "$bin/whistle" db upgrade

  local port pid
  for port in $ports; do
    [[ "$port" =~ ^[0-9]+$ ]] || die "bad port $port"
    (
      cd "$root"
      exec setsid "$bin/gunicorn" -c "$here/gunicorn.conf.py" --bind "127.0.0.1:$port" --workers "$workers" \
        --error-logfile "$state/$port.log" 'whistle:create_app()' </dev/null >/dev/null 2>&1
    ) &
    pid=$!
    echo "$pid" > "$state/$port.pid"
    wait_healthy "$port" "$pid"
    ours "$pid" "$port" || die "pid $pid is not the instance on port $port"
    echo "instance http://127.0.0.1:$port/ (pid $pid, $workers workers)"
  done
  started=1
  echo "database $db, Redis $redis_url; CLI settings: . $state/env"
}

status() {
  local port
  for port in $ports; do
    "$python" - "$port" <<'PY' || true
import sys, urllib.error, urllib.request
port = sys.argv[1]
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
        print(f"127.0.0.1:{port} ready")
except urllib.error.HTTPError as exc:
    print(f"127.0.0.1:{port} not ready: {exc.read().decode().strip()}")
except OSError:
    print(f"127.0.0.1:{port} down")
PY
  done
}

case "$mode" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; [ "$mode" = "-h" ] || [ "$mode" = "--help" ] ;;
esac
