#!/usr/bin/env bash
# scripts/down.sh: stops the services scripts/up.sh started (and only those), gracefully first:
# SIGTERM lets each drain its calls and stop its relay; SIGKILL after 20 s. PostgreSQL and NATS
# keep running.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly RUN_DIR="${CHAIN_RUN_DIR:-$PWD/run}"

for service in requests tickets scoring; do
    pid_file="$RUN_DIR/$service.pid"
    [[ -f "$pid_file" ]] || continue
    pid="$(cat "$pid_file")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid"
            echo "down: $service-svc did not stop in 20 s; killed"
        else
            echo "down: $service-svc stopped"
        fi
    fi
    rm -f "$pid_file"
done
