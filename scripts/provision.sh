#!/usr/bin/env bash
# Make this machine ready for marketdata-collectors:
#   PostgreSQL 15 (cluster 15/main) with TimescaleDB (Apache-2 edition) and Redis.
#
# Idempotent and safe to re-run; when everything is in place it only checks (~1 s).
# Quiet by default (one line per step); the full log of the last run is in
# .local/provision.log (the run before that in .local/provision.log.1).
# See docs/provisioning.md.
#
#   scripts/provision.sh            # provision / check
#   scripts/provision.sh -v         # also stream the full log to the terminal
#
# Environment:
#   DATABASE_URL   use this PostgreSQL instead of the local cluster: only checked
#                  (connectivity, timescaledb available and preloaded), nothing built/started
#   REDIS_URL      use this Redis instead of the local one: only checked (PING)
#   PROVISION_VERBOSE=1        same as -v
#   PROVISION_WAIT_SECS=60     bound for each readiness wait
#   PROVISION_PG_MAJOR=15 PROVISION_PG_CLUSTER=main   local cluster to use
#   PROVISION_DB=marketdata    database to create
#   PROVISION_REDIS_PORT=6379  local Redis port
#   TSDB_SOURCE_SUITE=trixie   Debian suite whose `timescaledb` source package is built
#   TSDB_SOURCE_VERSION=       pin that source package's version (default: the suite's current)
set -Eeuo pipefail

# ---------------------------------------------------------------- settings
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_DIR="$REPO_ROOT/.local"
LOG_FILE="$LOG_DIR/provision.log"

PG_MAJOR="${PROVISION_PG_MAJOR:-15}"
PG_CLUSTER="${PROVISION_PG_CLUSTER:-main}"
PG_SOCKET_DIR=/var/run/postgresql
DB_NAME="${PROVISION_DB:-marketdata}"
REDIS_HOST=127.0.0.1
REDIS_PORT="${PROVISION_REDIS_PORT:-6379}"
WAIT_SECS="${PROVISION_WAIT_SECS:-60}"
TSDB_SOURCE_SUITE="${TSDB_SOURCE_SUITE:-trixie}"
TSDB_SOURCE_VERSION="${TSDB_SOURCE_VERSION:-}"
VERBOSE="${PROVISION_VERBOSE:-0}"
DATABASE_URL="${DATABASE_URL:-}"
REDIS_URL="${REDIS_URL:-}"

case "${1:-}" in
  -v | --verbose) VERBOSE=1 ;;
  -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
  "") ;;
  *) echo "provision: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------- logging
STEP=init
WORK=""
APT_UPDATED=0
INSTALLED_PKGS=()
T_START=$SECONDS

mkdir -p "$LOG_DIR"
exec 3>&1 4>&2 # 3/4: the terminal; 1/2 go to the log below

# One provision at a time (a second run waits, then finds everything done).
exec 9>"$LOG_DIR/provision.lock"
if ! flock -n 9; then
  echo "provision: another provision run holds $LOG_DIR/provision.lock; waiting (max 20 min)..." >&3
  flock -w 1200 9 || { echo "provision: FAILED: lock still held after 20 min" >&4; exit 1; }
fi

if [[ -f "$LOG_FILE" ]]; then mv -f "$LOG_FILE" "$LOG_FILE.1"; fi
if [[ "$VERBOSE" == 1 ]]; then
  exec > >(tee -a "$LOG_FILE") 2>&1
else
  exec >>"$LOG_FILE" 2>&1
fi

log() { printf '[%(%F %T)T] %s\n' -1 "$*"; }
say() { printf '%s\n' "$*" >&3; }
step() { STEP="$1"; log "===== step: $STEP"; }
step_ok() {
  log "----- $STEP: ok: $*"
  [[ "$VERBOSE" == 1 ]] || say "$(printf 'provision: %-11s ok   %s' "$STEP" "$*")"
  [[ "$VERBOSE" != 1 ]] || say ">>> provision: $STEP ok: $*"
}
die() { # only call from the main shell, not inside $(...)
  trap - ERR
  log "ERROR in step '$STEP': $*"
  printf 'provision: %-11s FAILED: %s\n' "$STEP" "$*" >&4
  printf 'provision: full log: %s\n' "$LOG_FILE" >&4
  exit 1
}
on_err() {
  local rc=$? line=$1 cmd=$2
  if [[ "$BASHPID" != "$$" ]]; then exit "$rc"; fi # subshell: let the main shell report
  trap - ERR
  log "ERROR in step '$STEP': line $line: '$cmd' exited $rc"
  {
    printf 'provision: %-11s FAILED: command exited %d (line %d): %s\n' "$STEP" "$rc" "$line" "$cmd"
    if [[ "$VERBOSE" != 1 ]]; then
      echo "provision: last lines of $LOG_FILE:"
      tail -n 15 "$LOG_FILE" | sed 's/^/    /'
    fi
  } >&4
  exit "$rc"
}
trap 'on_err $LINENO "$BASH_COMMAND"' ERR
cleanup() { [[ -z "$WORK" ]] || rm -rf "$WORK"; }
trap cleanup EXIT

# Run a command that may leave a daemon behind (pg_ctlcluster, redis-server, apt-get) without
# handing it the terminal (fd 3/4) or the lock (fd 9): a postmaster holding them would keep
# this script's lock forever and keep a caller's output pipe open (e.g. `provision.sh | tee`).
spawn() { "$@" </dev/null >>"$LOG_FILE" 2>&1 3>&- 4>&- 9>&-; }

redact() { sed -E 's#//[^/@]*@#//***@#' <<<"$1"; } # hide user:password in URLs

log "provision started: repo=$REPO_ROOT DATABASE_URL=$(redact "${DATABASE_URL:-<unset>}") REDIS_URL=$(redact "${REDIS_URL:-<unset>}")"

# ---------------------------------------------------------------- helpers
require_root() {
  [[ $EUID -eq 0 ]] || die "must run as root to $1"
}

# psql as the postgres superuser against the local cluster (socket, works with trust or peer auth).
pg_local() {
  if [[ $EUID -eq 0 ]]; then
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres "$@"
  else
    psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres "$@"
  fi
}
pg_val() { pg_local -At "$@"; }

pg_ready_local() { [[ "$(pg_val -d postgres -c 'select 1' 2>/dev/null)" == 1 ]]; }
wait_pg_local() {
  local deadline=$((SECONDS + WAIT_SECS))
  until pg_ready_local; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}
pg_server_log_tail() {
  local f="/var/log/postgresql/postgresql-$PG_MAJOR-$PG_CLUSTER.log"
  if [[ -r "$f" ]]; then log "tail of $f:"; tail -n 20 "$f"; fi
}

redis_ping_local() { [[ "$(timeout 5 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

apt_update_once() {
  ((APT_UPDATED)) && return 0
  log "apt-get update"
  apt-get update || die "apt-get update failed"
  APT_UPDATED=1
}
# Install only the packages that are missing (never upgrades what is already installed).
apt_install_missing() {
  local p missing=()
  for p in "$@"; do
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" == installed ]] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  require_root "install packages: ${missing[*]}"
  apt_update_once
  log "apt-get install ${missing[*]}"
  spawn env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" ||
    die "apt-get install failed for: ${missing[*]}"
  INSTALLED_PKGS+=("${missing[@]}")
}

# URI of the Debian mirror the machine already uses for its own release (e.g. http://deb.debian.org/debian/).
debian_mirror() {
  local codename
  # shellcheck source=/dev/null
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  # shellcheck disable=SC2016 # apt's own $(FIELD) syntax
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' 2>/dev/null |
    awk -v c="$codename" '$2 == c { print $1; exit }'
}

# ---------------------------------------------------------------- local PostgreSQL
# Port of the local cluster: last `port =` in postgresql.conf and then conf.d/*.conf.
pg_cluster_port() {
  local dir="/etc/postgresql/$PG_MAJOR/$PG_CLUSTER" f files=()
  for f in "$dir/postgresql.conf" "$dir"/conf.d/*.conf; do if [[ -f "$f" ]]; then files+=("$f"); fi; done
  awk -F= '/^[[:space:]]*port[[:space:]]*=/ && match($2, /[0-9]+/) { p = substr($2, RSTART, RLENGTH) }
           END { print p }' "${files[@]}"
}

ensure_postgres_local() {
  step postgres
  [[ -x "/usr/lib/postgresql/$PG_MAJOR/bin/postgres" ]] ||
    die "PostgreSQL $PG_MAJOR server is not installed (apt-get install postgresql-$PG_MAJOR)"
  [[ -d "/etc/postgresql/$PG_MAJOR/$PG_CLUSTER" ]] ||
    die "cluster $PG_MAJOR/$PG_CLUSTER does not exist (pg_createcluster $PG_MAJOR $PG_CLUSTER)"
  PG_PORT="$(pg_cluster_port)"
  PG_PORT="${PG_PORT:-5432}"
  local how="was running"
  if ! pg_ctlcluster "$PG_MAJOR" "$PG_CLUSTER" status >/dev/null 2>&1; then
    require_root "start PostgreSQL"
    log "PostgreSQL $PG_MAJOR/$PG_CLUSTER is not running: starting it"
    spawn pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" "$PG_CLUSTER" start ||
      { pg_server_log_tail; die "could not start PostgreSQL $PG_MAJOR/$PG_CLUSTER (see /var/log/postgresql/postgresql-$PG_MAJOR-$PG_CLUSTER.log)"; }
    how="started"
  fi
  wait_pg_local || { pg_server_log_tail; die "PostgreSQL $PG_MAJOR/$PG_CLUSTER is not accepting connections on port $PG_PORT after ${WAIT_SECS}s"; }
  step_ok "PostgreSQL $PG_MAJOR/$PG_CLUSTER $how, accepting connections on port $PG_PORT"
}

restart_postgres_local() {
  require_root "restart PostgreSQL"
  log "restarting PostgreSQL $PG_MAJOR/$PG_CLUSTER (fast mode)"
  spawn pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" "$PG_CLUSTER" restart -m fast ||
    { pg_server_log_tail; die "PostgreSQL $PG_MAJOR/$PG_CLUSTER failed to restart (see /var/log/postgresql/postgresql-$PG_MAJOR-$PG_CLUSTER.log)"; }
  wait_pg_local || { pg_server_log_tail; die "PostgreSQL did not accept connections within ${WAIT_SECS}s after restart"; }
}

tsdb_available_local() {
  pg_val -d postgres -c "select default_version from pg_available_extensions where name = 'timescaledb'"
}

build_timescaledb_from_source() {
  local mirror keyring apt_dir src_dir
  apt_install_missing "postgresql-server-dev-$PG_MAJOR" cmake gcc make libc6-dev dpkg-dev xz-utils

  mirror="$(debian_mirror)"
  [[ -n "$mirror" ]] || die "could not find the machine's Debian mirror in /etc/apt/sources.list*"
  WORK="$(mktemp -d /tmp/provision-timescaledb.XXXXXX)"
  apt_dir="$WORK/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources.list.d" \
    "$apt_dir/preferences.d" "$WORK/src"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  # A private, throw-away apt configuration holding only a deb-src line for $TSDB_SOURCE_SUITE:
  # the machine's own sources, indexes and pinning are never touched, so no binary package can
  # ever come from that suite.
  if [[ -r "$keyring" ]]; then
    echo "deb-src [signed-by=$keyring] $mirror $TSDB_SOURCE_SUITE main" >"$apt_dir/sources.list"
  else
    echo "deb-src $mirror $TSDB_SOURCE_SUITE main" >"$apt_dir/sources.list"
  fi
  log "private apt source list: $(cat "$apt_dir/sources.list")"
  local apt_opts=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.list"
    -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
    -o "Dir::Etc::Preferences=$apt_dir/preferences"
    -o "Dir::Etc::PreferencesParts=$apt_dir/preferences.d"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache=$apt_dir/cache"
    -o "Acquire::Languages=none"
  )
  apt-get "${apt_opts[@]}" update ||
    die "could not fetch the $TSDB_SOURCE_SUITE source index from $mirror"
  # let apt's sandbox user write the downloads
  if id _apt >/dev/null 2>&1; then chown _apt "$WORK/src"; fi
  (cd "$WORK/src" && apt-get "${apt_opts[@]}" source --download-only "timescaledb${TSDB_SOURCE_VERSION:+=$TSDB_SOURCE_VERSION}") ||
    die "apt-get source timescaledb${TSDB_SOURCE_VERSION:+=$TSDB_SOURCE_VERSION} ($TSDB_SOURCE_SUITE) failed"
  # apt verified the files against the signed Sources index; dpkg-source re-checks the checksums.
  (cd "$WORK/src" && dpkg-source -x ./timescaledb_*.dsc tsdb) || die "dpkg-source could not unpack timescaledb"
  src_dir="$WORK/src/tsdb"
  TSDB_SOURCE_DESC="$(basename "$WORK"/src/timescaledb_*.dsc .dsc)"
  log "building $TSDB_SOURCE_DESC in $src_dir"

  # Built outside the repo so the extension does not record this project's git commit.
  (cd "$src_dir" && BUILD_FORCE_REMOVE=true ./bootstrap \
    -DCMAKE_BUILD_TYPE=Release \
    -DAPACHE_ONLY=1 \
    -DREGRESS_CHECKS=OFF \
    -DTAP_CHECKS=OFF \
    -DWARNINGS_AS_ERRORS=OFF \
    -DSEND_TELEMETRY_DEFAULT=OFF \
    -DPG_CONFIG="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config" </dev/null) ||
    die "cmake configure (./bootstrap) of timescaledb failed"
  make -C "$src_dir/build" -j"$(nproc)" || die "compiling timescaledb failed"
  make -C "$src_dir/build" install || die "make install of timescaledb failed"
}

ensure_timescaledb_local() {
  step timescaledb
  local v t0=$SECONDS how
  v="$(tsdb_available_local)"
  if [[ -n "$v" ]]; then
    step_ok "extension $v already available"
    return 0
  fi
  require_root "install TimescaleDB"
  apt_update_once
  local cand
  cand="$(apt-cache policy "postgresql-$PG_MAJOR-timescaledb" 2>/dev/null | awk '/Candidate:/ { print $2 }')"
  if [[ -n "$cand" && "$cand" != "(none)" ]]; then
    # Packaged for this release and PostgreSQL version (e.g. Debian 13 with PostgreSQL 17).
    apt_install_missing "postgresql-$PG_MAJOR-timescaledb"
    how="installed package postgresql-$PG_MAJOR-timescaledb $cand"
  else
    build_timescaledb_from_source
    how="built from Debian source $TSDB_SOURCE_DESC"
  fi
  v="$(tsdb_available_local)"
  [[ -n "$v" ]] || die "timescaledb still missing from pg_available_extensions after install"
  step_ok "extension $v $how ($((SECONDS - t0)) s)"
}

# Split a PostgreSQL list setting ("a, \"b\",c") into one item per line.
split_list() { tr ',' '\n' <<<"$1" | sed -E 's/^[[:space:]"]+//; s/[[:space:]"]+$//' | grep -v '^$' || true; }
# list_has ITEM LIST  (no `| grep -q`: with pipefail an early exit of grep can fail the pipe)
list_has() {
  local item
  while IFS= read -r item; do [[ "$item" == "$1" ]] && return 0; done < <(split_list "$2")
  return 1
}

configure_postgres_local() {
  step config
  local file_spl run_spl changed=() items=() sql item action=""
  # Value the server will use after a restart: the last file entry (postgresql.auto.conf wins),
  # so entries set by others (conf.d, ALTER SYSTEM, even if not yet applied) are preserved.
  file_spl="$(pg_val -d postgres -c "select coalesce(
      (select setting from pg_file_settings where name = 'shared_preload_libraries' order by seqno desc limit 1),
      (select boot_val from pg_settings where name = 'shared_preload_libraries'))")"
  if ! list_has timescaledb "$file_spl"; then
    require_root "configure PostgreSQL"
    mapfile -t items < <(split_list "$file_spl")
    items+=(timescaledb)
    sql=""
    for item in "${items[@]}"; do sql+="${sql:+, }'${item//\'/\'\'}'"; done
    log "shared_preload_libraries: '$file_spl' -> ${sql}"
    pg_local -d postgres -c "alter system set shared_preload_libraries = $sql"
    changed+=("shared_preload_libraries")
  fi
  run_spl="$(pg_val -d postgres -c 'show shared_preload_libraries')"
  if ! list_has timescaledb "$run_spl"; then
    restart_postgres_local
    action="restarted PostgreSQL"
    run_spl="$(pg_val -d postgres -c 'show shared_preload_libraries')"
    list_has timescaledb "$run_spl" ||
      { pg_server_log_tail; die "timescaledb is not in the running shared_preload_libraries ('$run_spl') after restart"; }
  fi

  step_ok "${action:-unchanged}${changed:+ (set ${changed[*]})}; shared_preload_libraries='$run_spl'"
}

# timescaledb.telemetry_level is defined only in a database where the extension is loaded (the
# loader alone does not define it), PostgreSQL 15 refuses ALTER SYSTEM for an unknown placeholder,
# and builds made with USE_TELEMETRY=OFF have no such setting at all: so this runs after the
# database step, in that database.
configure_telemetry_local() {
  step telemetry
  local has_tel file_tel cur_tel action="unchanged"
  has_tel="$(pg_val -d "$DB_NAME" -c "select 1 from pg_settings where name = 'timescaledb.telemetry_level'")"
  if [[ "$has_tel" != 1 ]]; then
    step_ok "no telemetry in this build (USE_TELEMETRY=OFF)"
    return 0
  fi
  file_tel="$(pg_val -d "$DB_NAME" -c "select setting from pg_file_settings
      where name = 'timescaledb.telemetry_level' order by seqno desc limit 1")"
  if [[ "$file_tel" != off ]]; then
    require_root "configure PostgreSQL"
    pg_local -d "$DB_NAME" -c "alter system set timescaledb.telemetry_level = 'off'"
    pg_local -d "$DB_NAME" -c 'select pg_reload_conf()' >/dev/null
    action="set with ALTER SYSTEM, reloaded PostgreSQL"
    sleep 0.3
  fi
  cur_tel="$(pg_val -d "$DB_NAME" -c "select current_setting('timescaledb.telemetry_level')")"
  [[ "$cur_tel" == off ]] || die "timescaledb.telemetry_level is '$cur_tel' after reload, expected 'off'"
  step_ok "timescaledb.telemetry_level=off ($action)"
}

ensure_database_local() {
  step database
  local exists inst def
  exists="$(pg_val -d postgres -c "select 1 from pg_database where datname = '$DB_NAME'")"
  if [[ "$exists" != 1 ]]; then
    pg_local -d postgres -c "create database \"$DB_NAME\" owner postgres"
  fi
  pg_local -d "$DB_NAME" -c 'set client_min_messages = warning; create extension if not exists timescaledb'
  inst="$(pg_val -d "$DB_NAME" -c "select extversion from pg_extension where extname = 'timescaledb'")"
  def="$(tsdb_available_local)"
  if [[ -n "$def" && "$inst" != "$def" ]]; then
    log "updating extension timescaledb $inst -> $def in $DB_NAME"
    pg_local -d "$DB_NAME" -c 'alter extension timescaledb update'
    inst="$(pg_val -d "$DB_NAME" -c "select extversion from pg_extension where extname = 'timescaledb'")"
  fi
  [[ -n "$inst" ]] || die "extension timescaledb is not installed in database $DB_NAME"
  step_ok "database $DB_NAME $([[ "$exists" == 1 ]] && echo exists || echo created) with timescaledb $inst"
}

summary_local() {
  step summary
  local lic ver
  lic="$(pg_val -d "$DB_NAME" -c 'show timescaledb.license')"
  ver="$(pg_val -d "$DB_NAME" -c "select extversion from pg_extension where extname = 'timescaledb'")"
  SUMMARY="timescaledb $ver in $DB_NAME, timescaledb.license=$lic"
}

# ---------------------------------------------------------------- external PostgreSQL (DATABASE_URL)
check_database_url() {
  step postgres
  local safe one
  safe="$(redact "$DATABASE_URL")"
  export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
  one="$(psql "$DATABASE_URL" -X -q -At -c 'select 1')" ||
    die "cannot connect to DATABASE_URL ($safe)"
  [[ "$one" == 1 ]] || die "unexpected answer from DATABASE_URL ($safe): '$one'"
  step_ok "DATABASE_URL reachable ($safe); not starting or building anything locally"

  step timescaledb
  local avail pre inst lic
  avail="$(psql "$DATABASE_URL" -X -q -At -c \
    "select default_version from pg_available_extensions where name = 'timescaledb'")" ||
    die "could not query pg_available_extensions on DATABASE_URL ($safe)"
  [[ -n "$avail" ]] || die "the timescaledb extension is not available on the DATABASE_URL server ($safe)"
  # The loader (what shared_preload_libraries brings) defines timescaledb.max_background_workers
  # in every database; timescaledb.license exists only where the extension is created.
  pre="$(psql "$DATABASE_URL" -X -q -At -c \
    "select 1 from pg_settings where name = 'timescaledb.max_background_workers'")" || die "query on DATABASE_URL failed"
  [[ "$pre" == 1 ]] || die "timescaledb $avail is available on DATABASE_URL ($safe) but not in its shared_preload_libraries"
  inst="$(psql "$DATABASE_URL" -X -q -At -c \
    "select extversion from pg_extension where extname = 'timescaledb'")" || die "query on DATABASE_URL failed"
  lic="$(psql "$DATABASE_URL" -X -q -At -c \
    "select current_setting('timescaledb.license', true)")" || die "query on DATABASE_URL failed"
  step_ok "extension $avail available and preloaded; in this database: ${inst:-not created yet}"
  SUMMARY="timescaledb ${inst:-$avail (available, not created in this database)} on DATABASE_URL, timescaledb.license=${lic:-n/a until CREATE EXTENSION}"
}

# ---------------------------------------------------------------- Redis
ensure_redis_local() {
  step redis
  command -v redis-cli >/dev/null || die "redis-cli is not installed (apt-get install redis-tools)"
  local how="was running"
  if ! redis_ping_local; then
    command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"
    require_root "start Redis"
    log "Redis is not answering on $REDIS_HOST:$REDIS_PORT: starting it"
    mkdir -p /var/lib/redis /var/log/redis
    spawn redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log ||
      die "redis-server failed to start (see /var/log/redis/ci.log)"
    how="started"
  fi
  local deadline=$((SECONDS + WAIT_SECS))
  until redis_ping_local; do
    ((SECONDS < deadline)) || {
      tail -n 20 /var/log/redis/ci.log 2>/dev/null || true
      die "Redis on $REDIS_HOST:$REDIS_PORT did not answer PING within ${WAIT_SECS}s (see /var/log/redis/ci.log)"
    }
    sleep 0.5
  done
  step_ok "Redis $how, PONG from $REDIS_HOST:$REDIS_PORT"
}

check_redis_url() {
  step redis
  local safe pong
  safe="$(redact "$REDIS_URL")"
  command -v redis-cli >/dev/null || die "redis-cli is not installed (apt-get install redis-tools)"
  pong="$(timeout 10 redis-cli -u "$REDIS_URL" ping)" || die "cannot reach REDIS_URL ($safe)"
  [[ "$pong" == PONG ]] || die "REDIS_URL ($safe) answered '$pong' to PING"
  step_ok "REDIS_URL reachable ($safe); not starting anything locally"
}

# ---------------------------------------------------------------- main
SUMMARY=""
TSDB_SOURCE_DESC=""
if [[ -n "$DATABASE_URL" ]]; then
  check_database_url
else
  ensure_postgres_local
  ensure_timescaledb_local
  configure_postgres_local
  ensure_database_local
  configure_telemetry_local
  summary_local
fi
if [[ -n "$REDIS_URL" ]]; then check_redis_url; else ensure_redis_local; fi

STEP="done"
log "installed apt packages this run: ${INSTALLED_PKGS[*]:-none}"
if ((${#INSTALLED_PKGS[@]})); then say "provision: apt packages installed: ${INSTALLED_PKGS[*]}"; fi
say "provision: done in $((SECONDS - T_START)) s: $SUMMARY (log: ${LOG_FILE#"$REPO_ROOT"/})"
log "done: $SUMMARY"
