#!/usr/bin/env bash
# scripts/check-deploy.sh: validates the deployment files without a container engine or a
# cluster: every kustomize overlay builds (kubectl kustomize, offline) and docker-compose.yml
# parses, and both keep the promises the services rely on (gRPC probes on every Deployment, a
# termination grace longer than preStop + drain, one database per service, and over mutual TLS
# probes on the plaintext health port and the TLS files mounted).
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
    # Over mutual TLS the probes (which speak no TLS) must ask the plaintext health port, and
    # the TLS files must be mounted where the settings point.
    settings = {k: v for m in docs if m["kind"] == "ConfigMap" for k, v in m.get("data", {}).items()}
    if "TLS_CERT_FILE" in settings:
        name = d["metadata"]["name"]
        health_port = int(settings["HEALTH_LISTEN_ADDR"].rsplit(":", 1)[1])
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == health_port, name + ": " + probe + " on the health port"
        mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
        for key in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CLIENT_CA_FILE"):
            assert any(settings[key].startswith(m + "/") for m in mounts), name + ": " + key + " mounted"
'
    echo "check-deploy: $overlay ok"
done
