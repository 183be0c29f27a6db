#!/usr/bin/env bash
# scripts/check-deploy.sh: validates the deployment files without a container engine or a
# cluster: every kustomize overlay builds (kubectl kustomize, offline) and docker-compose.yml
# parses, and both keep the promises the services rely on (gRPC probes on every Deployment, a
# termination grace longer than preStop + drain, one database per service).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! python3 -c 'import yaml' 2>/dev/null; then
    python3 -m pip install --quiet pyyaml
fi

python3 - docker-compose.yml <<'PY'
import sys, yaml
compose = yaml.safe_load(open(sys.argv[1]))
services = compose["services"]
for name in ("postgres", "nats", "jaeger", "requests", "tickets", "scoring"):
    assert name in services, f"docker-compose.yml lacks service {name}"
urls = {services[s]["environment"]["DATABASE_URL"] for s in ("requests", "tickets", "scoring")}
assert len(urls) == 3, "each service needs its own database"
print("check-deploy: docker-compose.yml ok")
PY

if ! command -v kubectl >/dev/null 2>&1; then
    echo "check-deploy: kubectl not installed; kustomize overlays not built"
    exit 0
fi
for overlay in deploy/overlays/*/; do
    kubectl kustomize "$overlay" | python3 -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
deployments = [d for d in docs if d["kind"] == "Deployment"]
assert len(deployments) == 3, "three Deployments"
for d in deployments:
    spec = d["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert "grpc" in container["readinessProbe"], d["metadata"]["name"] + ": gRPC readiness probe"
    assert "grpc" in container["livenessProbe"], d["metadata"]["name"] + ": gRPC liveness probe"
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert spec["terminationGracePeriodSeconds"] > pre_stop + 10 + 1, "grace > preStop + drain"
'
    echo "check-deploy: $overlay ok"
done
