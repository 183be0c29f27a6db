#!/usr/bin/env bash
# scripts/test.sh: the one test command. Checks formatting and lints, makes sure PostgreSQL and
# NATS (JetStream) run on loopback (scripts/infra.sh), then runs every workspace test against
# them. Extra arguments go to the test runner, e.g. `scripts/test.sh relay` to run only tests
# whose name contains "relay".
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

section() { printf '\n==> %s\n' "$*"; }

section "format: cargo fmt --all --check"
cargo fmt --all --check

section "lints: cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

section "deployment files: scripts/check-deploy.sh"
scripts/check-deploy.sh

section "services: scripts/infra.sh"
# Sourced, so DATABASE_URL and NATS_URL reach the tests.
source scripts/infra.sh

if cargo nextest --version >/dev/null 2>&1; then
    # nextest does not run doc tests; run them first so its summary is the run's closing line.
    section "doc tests: cargo test --workspace --doc"
    cargo test --workspace --doc
    section "tests: cargo nextest run --workspace --no-fail-fast $*"
    cargo nextest run --workspace --no-fail-fast "$@"
else
    section "tests: cargo test --workspace --no-fail-fast $*"
    cargo test --workspace --no-fail-fast "$@"
fi

section "all checks passed"
