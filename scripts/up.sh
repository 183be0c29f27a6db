#!/usr/bin/env bash
# scripts/up.sh: runs customer-chain on this machine. Installs and starts PostgreSQL and
# nats-server when missing (scripts/infra.sh), creates one database per service, builds the
# release binaries, starts the three services in the background (logs and pid files in the run
# directory), waits until each one answers, and ends with `chainctl demo` (seeds an organisation,
# plays the furniture story, breaks one team's links on purpose and prints the impact summary).
# Running it again leaves running services alone and reuses the demo's teams and customers.
# scripts/down.sh stops what it started.
#
# Settings (environment):
#   CHAIN_RUN_DIR     where logs and pid files go (run/ in the repository)
#   CHAIN_HOST        address the services listen on (127.0.0.1)
#   OTEL_EXPORTER_OTLP_ENDPOINT  passed on to the services and chainctl (e.g. http://127.0.0.1:4317
#                     for Jaeger; the demo then prints a Jaeger link to the worst breakdown)
#   CHAIN_DEMO        0 to skip the demo
#   CHAIN_DEMO_ARGS   extra flags for `chainctl demo`, e.g. "--cases 50 --failing-team Quality"
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly ROOT="$PWD"
readonly RUN_DIR="${CHAIN_RUN_DIR:-$ROOT/run}"
readonly HOST="${CHAIN_HOST:-127.0.0.1}"
readonly SERVICES=(requests:50051 tickets:50052 scoring:50053)

log() { printf 'up: %s\n' "$*"; }

# PostgreSQL and NATS; exports DATABASE_URL (the admin database) and NATS_URL.
source scripts/infra.sh
readonly ADMIN_URL="$DATABASE_URL"
mkdir -p "$RUN_DIR"

database_url() { printf '%s/customer_chain_%s' "${ADMIN_URL%/*}" "$1"; }

create_database() {
    local name="customer_chain_$1"
    if [[ "$(psql "$ADMIN_URL" -Atc "SELECT 1 FROM pg_database WHERE datname = '$name'")" != 1 ]]; then
        psql "$ADMIN_URL" -qc "CREATE DATABASE $name" >/dev/null
        log "created database $name"
    fi
}

running() { [[ -f "$RUN_DIR/$1.pid" ]] && kill -0 "$(cat "$RUN_DIR/$1.pid")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

log "building release binaries (the first build takes a few minutes)"
cargo build --release --quiet --bin requests-svc --bin tickets-svc --bin scoring-svc --bin chainctl
readonly BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"

for entry in "${SERVICES[@]}"; do
    service="${entry%%:*}" port="${entry##*:}"
    create_database "$service"
    if running "$service"; then
        log "$service-svc already runs (pid $(cat "$RUN_DIR/$service.pid"))"
        continue
    fi
    DATABASE_URL="$(database_url "$service")" NATS_URL="$NATS_URL" LISTEN_ADDR="$HOST:$port" \
        METRICS_ADDR="$HOST:$((port + 1000))" \
        nohup "$BIN_DIR/$service-svc" serve >>"$RUN_DIR/$service.log" 2>&1 &
    echo $! >"$RUN_DIR/$service.pid"
    log "started $service-svc (pid $!), log $RUN_DIR/$service.log"
done

for entry in "${SERVICES[@]}"; do
    service="${entry%%:*}" port="${entry##*:}"
    deadline=$((SECONDS + 60))
    until port_open "$port"; do
        if ! running "$service"; then
            tail -n 20 "$RUN_DIR/$service.log" >&2 || true
            log "error: $service-svc exited; its log is above"
            exit 1
        fi
        if ((SECONDS > deadline)); then
            log "error: $service-svc does not answer on $HOST:$port after 60 s"
            exit 1
        fi
        sleep 0.2
    done
    log "$service-svc serves gRPC on $HOST:$port, metrics on http://$HOST:$((port + 1000))/metrics"
done

log "all services up. Stop them with scripts/down.sh"

if [[ "${CHAIN_DEMO:-1}" != 0 ]]; then
    export CHAIN_REQUESTS_ADDR="http://$HOST:50051" CHAIN_TICKETS_ADDR="http://$HOST:50052" \
        CHAIN_SCORING_ADDR="http://$HOST:50053"
    demo_flags=()
    # Plain text (no progress bar, no colour) when the output goes to a file or CI.
    [[ -t 1 ]] || demo_flags+=(--non-interactive)
    # shellcheck disable=SC2206 # CHAIN_DEMO_ARGS is a list of flags, split on purpose
    demo_flags+=(${CHAIN_DEMO_ARGS:-})
    log "running the demo: chainctl demo ${demo_flags[*]}"
    if ! "$BIN_DIR/chainctl" demo "${demo_flags[@]}"; then
        log "error: the demo failed (the services keep running; see $RUN_DIR/*.log)"
        exit 1
    fi
fi
