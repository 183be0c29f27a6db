#!/usr/bin/env bash
# scripts/infra.sh: makes sure the services the tests talk to run on loopback:
#   - PostgreSQL on 127.0.0.1:5432, user postgres with trust auth, max_connections >= 300;
#   - nats-server with JetStream on 127.0.0.1:4222.
# Installs the Debian packages `postgresql` and `nats-server` when they are missing. Idempotent:
# services that already run are left alone (PostgreSQL is restarted only to raise
# max_connections, once).
#
# Run it (`scripts/infra.sh`), or source it (`. scripts/infra.sh`) to also get DATABASE_URL and
# NATS_URL exported into your shell. Works as root and as a user with passwordless sudo, with no
# stdin (CI).
#
# Settings (environment):
#   DATABASE_URL, NATS_URL        exported with the loopback defaults when unset
#   CHAIN_PG_MIN_CONNECTIONS      lowest acceptable max_connections (300)
#   INFRA_WAIT_SECONDS            how long to wait for a service to answer (30)
#   NATS_STORE_DIR                JetStream store (/var/lib/nats-server as root, else under $HOME)

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced: do the work in a child bash, so that `set -e` and `exit` cannot end the caller's
    # shell, then export the URLs here.
    bash "${BASH_SOURCE[0]}" || return $?
    export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
    export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
    return 0
fi

set -euo pipefail

readonly DEFAULT_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
readonly DEFAULT_NATS_URL=nats://127.0.0.1:4222
readonly MIN_CONNECTIONS="${CHAIN_PG_MIN_CONNECTIONS:-300}"
readonly WAIT_SECONDS="${INFRA_WAIT_SECONDS:-30}"

# Debian puts nats-server and start-stop-daemon in sbin, which a normal user's PATH lacks.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { printf 'infra: %s\n' "$*" >&2; }
die() {
    printf 'infra: error: %s\n' "$*" >&2
    exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

# Runs a command as root: directly when we are root, else through sudo without a password prompt
# (CI has no stdin to answer one).
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif have sudo; then
        sudo -n "$@" || die "'sudo -n $*' failed (root is needed for it; passwordless sudo?)"
    else
        die "root is needed for '$*', and there is no sudo"
    fi
}

# Polls a command until it succeeds, for at most WAIT_SECONDS; fails when time runs out.
wait_for() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.5
    done
}

# ---------------------------------------------------------------------------------------------
# Packages

cluster_version() { ls /etc/postgresql 2>/dev/null | head -1; }
pg_answers() { pg_isready -q -h 127.0.0.1 -p 5432 -t 3; }

missing=()
if ! have psql || ! have pg_isready; then
    missing+=(postgresql)
elif ! pg_answers && { ! have pg_ctlcluster || [[ -z "$(cluster_version)" ]]; }; then
    # Clients only, and no server answering: the server itself is missing.
    missing+=(postgresql)
fi
# The binary is needed even when something answers on 4222: tests that kill NATS start their own.
if ! have nats-server; then
    missing+=(nats-server)
fi
if ((${#missing[@]} > 0)); then
    have apt-get || die "missing ${missing[*]}, and there is no apt-get to install them"
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# ---------------------------------------------------------------------------------------------
# PostgreSQL

psql_tcp() {
    # -w: never prompt for a password; -X: ignore ~/.psqlrc.
    PGCONNECT_TIMEOUT=5 psql -X -w -q -A -t -h 127.0.0.1 -p 5432 -U postgres -d postgres "$@"
}
pg_trusts_us() { psql_tcp -c 'select 1' >/dev/null 2>&1; }
pg_ctl_cluster() { as_root pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main "$@"; }

PG_VERSION="$(cluster_version)"

if ! pg_answers; then
    [[ -n "$PG_VERSION" ]] || die "PostgreSQL does not answer on 127.0.0.1:5432 and there is no cluster under /etc/postgresql"
    log "starting PostgreSQL $PG_VERSION/main"
    # A failed start is reported by the wait below, with the command to look into.
    pg_ctl_cluster start || log "pg_ctlcluster start failed"
    wait_for pg_answers ||
        die "PostgreSQL does not answer on 127.0.0.1:5432 after ${WAIT_SECONDS}s (see: pg_lsclusters; /var/log/postgresql/)"
fi

if ! pg_trusts_us; then
    hba="/etc/postgresql/$PG_VERSION/main/pg_hba.conf"
    [[ -n "$PG_VERSION" ]] && as_root test -f "$hba" ||
        die "psql -h 127.0.0.1 -U postgres fails, and there is no local pg_hba.conf to allow it"
    log "allowing trust auth from 127.0.0.1 and ::1 in $hba"
    # On top, since pg_hba.conf is read top down and the first match wins; older copies of the
    # same lines are dropped (`i` prints before `d` can discard the line it stands on).
    as_root sed -i \
        -e '1i host all all 127.0.0.1/32 trust' \
        -e '1i host all all ::1/128 trust' \
        -e '/^host all all 127\.0\.0\.1\/32 trust$/d' \
        -e '/^host all all ::1\/128 trust$/d' \
        "$hba"
    pg_ctl_cluster reload
    wait_for pg_trusts_us ||
        die "psql -h 127.0.0.1 -U postgres still fails after allowing trust auth: $(psql_tcp -c 'select 1' 2>&1 || true)"
fi

max_connections="$(psql_tcp -c 'show max_connections')"
if ((max_connections < MIN_CONNECTIONS)); then
    if [[ -z "$PG_VERSION" ]]; then
        log "warning: max_connections is $max_connections (< $MIN_CONNECTIONS) and the server is not a local cluster; parallel tests may run out of connections"
    else
        log "raising max_connections from $max_connections to $MIN_CONNECTIONS (needs a restart)"
        psql_tcp -c "alter system set max_connections = $MIN_CONNECTIONS"
        # Give statements that are running right now a moment to finish before the restart cuts
        # them off (idle pooled connections reconnect on their own).
        busy_sessions() {
            psql_tcp -c "select count(*) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid() and state is distinct from 'idle'"
        }
        none_busy() { [[ "$(busy_sessions)" == 0 ]]; }
        wait_for none_busy || log "restarting with $(busy_sessions) sessions still busy"
        pg_ctl_cluster restart
        wait_for pg_trusts_us || die "PostgreSQL did not come back after the restart (see /var/log/postgresql/)"
        max_connections="$(psql_tcp -c 'show max_connections')"
        ((max_connections >= MIN_CONNECTIONS)) || die "max_connections is still $max_connections after the restart"
    fi
fi
log "PostgreSQL $(psql_tcp -c 'show server_version') on 127.0.0.1:5432 (max_connections $max_connections)"

# ---------------------------------------------------------------------------------------------
# NATS

# The first line nats-server sends a client: INFO {...,"jetstream":true,...}.
nats_greeting() {
    timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/4222 && IFS= read -r line <&3 && printf "%s\n" "$line"' 2>/dev/null
}
nats_answers() { [[ "$(nats_greeting || true)" == INFO* ]]; }

if ! nats_answers; then
    if [[ "$(id -u)" -eq 0 ]]; then
        store="${NATS_STORE_DIR:-/var/lib/nats-server}"
        logfile=/var/log/nats-server.log
        pidfile=/run/customer-chain-nats-server.pid
    else
        state="${XDG_STATE_HOME:-$HOME/.local/state}/customer-chain"
        store="${NATS_STORE_DIR:-$state/nats-server}"
        logfile="$state/nats-server.log"
        pidfile="$state/nats-server.pid"
    fi
    mkdir -p "$store" "$(dirname "$logfile")" "$(dirname "$pidfile")"
    nats_bin="$(command -v nats-server)"
    log "starting $nats_bin with JetStream on 127.0.0.1:4222 (store $store, log $logfile)"
    args=(-a 127.0.0.1 -p 4222 -js -sd "$store" -l "$logfile")
    if have start-stop-daemon; then
        # The pidfile scopes the "already running?" check to this server: private nats-servers
        # that tests start (same binary, other ports) must not count.
        start-stop-daemon --start --oknodo --background --make-pidfile --pidfile "$pidfile" \
            --exec "$nats_bin" -- "${args[@]}"
    else
        nohup setsid "$nats_bin" "${args[@]}" </dev/null >>"$logfile" 2>&1 &
        echo $! >"$pidfile"
    fi
    wait_for nats_answers ||
        die "nats-server does not answer on 127.0.0.1:4222 after ${WAIT_SECONDS}s; end of $logfile:
$(tail -n 20 "$logfile" 2>/dev/null || true)"
fi

greeting="$(nats_greeting || true)"
[[ "$greeting" == *'"jetstream":true'* ]] ||
    die "the nats-server on 127.0.0.1:4222 runs without JetStream; restart it with -js (it said: $greeting)"
nats_version="$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' <<<"$greeting")"
log "nats-server ${nats_version:-?} with JetStream on 127.0.0.1:4222"

# ---------------------------------------------------------------------------------------------

export DATABASE_URL="${DATABASE_URL:-$DEFAULT_DATABASE_URL}"
export NATS_URL="${NATS_URL:-$DEFAULT_NATS_URL}"
echo "DATABASE_URL=$DATABASE_URL"
echo "NATS_URL=$NATS_URL"
