#!/usr/bin/python3
"""Static checks of the deployment files under deploy/ (no Docker or Kubernetes needed).

- every YAML file parses (python3-yaml), multi-document files included;
- Kubernetes objects have apiVersion, kind and metadata.name; the StatefulSet keeps its data dir on
  a volumeClaimTemplate, probes grpc.health.v1 on the gRPC port, requests resources, and each
  Service targets a port the pod declares;
- compose services mount files that exist in the repository;
- every perennial-server flag used by the Dockerfile, compose, systemd and Kubernetes files is
  defined in server/main.cc (skipped, with a note, while that file does not exist).

Usage (from the repository root; exit status 0 when everything is consistent):

    /usr/bin/python3 deploy/check_manifests.py
"""

import argparse
import os
import re
import sys

try:
    import yaml
except ImportError:  # python3-yaml is in scripts/install-deps.sh
    yaml = None

DEPLOY = "deploy"
SERVER_MAIN = "server/main.cc"
# Files whose every --flag outside comments is a perennial-server flag; compose.yaml is checked
# through its perennial service's command only (the other services have their own flags).
FLAG_FILES = ("deploy/Dockerfile", "deploy/systemd/perennial.service",
              "deploy/k8s/statefulset.yaml")
GRPC_PORT = 50051

_FLAG_USE = re.compile(r"--([a-z][a-z0-9-]*)")
_FLAG_DEF = re.compile(r'add_(?:option|flag)\(\s*"--([a-z][a-z0-9-]*)')
_SET_CONFIG = re.compile(r'set_config\(\s*"--([a-z][a-z0-9-]*)')


def yaml_files(root):
    for dirpath, _, files in os.walk(os.path.join(root, DEPLOY)):
        for name in sorted(files):
            if name.endswith((".yml", ".yaml")):
                yield os.path.join(dirpath, name)


def load_all(root, errors):
    """Returns {relative path: [documents]} for every YAML file under deploy/."""
    docs = {}
    for path in yaml_files(root):
        rel = os.path.relpath(path, root)
        try:
            with open(path, encoding="utf-8") as f:
                docs[rel] = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            errors.append(f"{rel}: YAML does not parse: {e}")
    return docs


def check_kubernetes(docs, errors):
    objects = []
    for rel, documents in docs.items():
        if not rel.startswith(os.path.join(DEPLOY, "k8s")):
            continue
        for doc in documents:
            if doc.get("kind") == "Kustomization":
                for resource in doc.get("resources", []):
                    if os.path.join(DEPLOY, "k8s", resource) not in docs:
                        errors.append(f"{rel}: resource {resource} does not exist")
                continue
            for key in ("apiVersion", "kind"):
                if key not in doc:
                    errors.append(f"{rel}: object without {key}")
            if not doc.get("metadata", {}).get("name"):
                errors.append(f"{rel}: {doc.get('kind')} without metadata.name")
            objects.append((rel, doc))

    sets = [(rel, d) for rel, d in objects if d.get("kind") == "StatefulSet"]
    if len(sets) != 1:
        errors.append(f"k8s: want exactly one StatefulSet, found {len(sets)}")
        return
    rel, sts = sets[0]
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    if spec.get("replicas") != 1:
        errors.append(f"{rel}: replicas must be 1 (one learner per data directory)")
    if spec["selector"]["matchLabels"].items() - spec["template"]["metadata"]["labels"].items():
        errors.append(f"{rel}: selector does not match the pod template labels")
    claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
    container = pod["containers"][0]
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    if mounts.get("/var/lib/perennial") not in claims:
        errors.append(f"{rel}: /var/lib/perennial is not mounted from a volumeClaimTemplate")
    if "--data-dir=/var/lib/perennial" not in container.get("args", []):
        errors.append(f"{rel}: args do not set --data-dir=/var/lib/perennial")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if container.get(probe, {}).get("grpc", {}).get("port") != GRPC_PORT:
            errors.append(f"{rel}: {probe} is not a gRPC health probe on port {GRPC_PORT}")
    requests = container.get("resources", {}).get("requests", {})
    if not {"cpu", "memory"} <= requests.keys():
        errors.append(f"{rel}: container must request cpu and memory")
    if pod.get("terminationGracePeriodSeconds", 30) < 60:
        errors.append(f"{rel}: terminationGracePeriodSeconds too short for the final checkpoint")
    port_names = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    labels = spec["template"]["metadata"]["labels"]
    for srel, svc in objects:
        if svc.get("kind") != "Service":
            continue
        if svc["spec"].get("selector", {}).items() - labels.items():
            errors.append(f"{srel}: Service {svc['metadata']['name']} selects no pod of the set")
        for port in svc["spec"].get("ports", []):
            target = port.get("targetPort", port.get("port"))
            if target not in port_names and target not in port_names.values():
                errors.append(f"{srel}: Service {svc['metadata']['name']} targets unknown port "
                              f"{target}")
    if spec.get("serviceName") not in {d["metadata"]["name"] for _, d in objects
                                        if d.get("kind") == "Service"}:
        errors.append(f"{rel}: serviceName {spec.get('serviceName')} is not a Service here")


def check_compose(root, docs, errors):
    rel = os.path.join(DEPLOY, "compose.yaml")
    if rel not in docs:
        errors.append(f"{rel}: missing")
        return
    compose = docs[rel][0]
    services = compose.get("services", {})
    for name in ("perennial", "prometheus", "grafana"):
        if name not in services:
            errors.append(f"{rel}: no service {name}")
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                path = os.path.normpath(os.path.join(root, DEPLOY, source))
                if not os.path.exists(path):
                    errors.append(f"{rel}: service {name} mounts {source}, which does not exist")
            elif source not in (compose.get("volumes") or {}):
                errors.append(f"{rel}: service {name} uses undeclared volume {source}")
    build = services.get("perennial", {}).get("build", {})
    dockerfile = os.path.join(root, DEPLOY, build.get("context", "."), build.get("dockerfile", ""))
    if not os.path.isfile(dockerfile):
        errors.append(f"{rel}: build.dockerfile {build.get('dockerfile')} does not exist")


def check_flags(root, docs, errors, notes):
    main = os.path.join(root, SERVER_MAIN)
    if not os.path.exists(main):
        notes.append(f"{SERVER_MAIN} does not exist yet: server flags not checked")
        return
    with open(main, encoding="utf-8") as f:
        source = f.read()
    defined = set(_FLAG_DEF.findall(source)) | set(_SET_CONFIG.findall(source))
    defined |= {"help"}
    uses = []  # (where, flag)
    for rel in FLAG_FILES:
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.lstrip().startswith("#"):
                    uses += [(f"{rel}:{number}", flag) for flag in _FLAG_USE.findall(line)]
    compose = docs.get(os.path.join(DEPLOY, "compose.yaml"), [{}])[0]
    command = compose.get("services", {}).get("perennial", {}).get("command", [])
    uses += [("deploy/compose.yaml services.perennial.command", flag)
             for flag in _FLAG_USE.findall(" ".join(command))]
    # apt-get, useradd and COPY options in the Dockerfile.
    other_tools = {"no-install-recommends", "system", "uid", "gid", "home-dir", "shell", "from"}
    for where, flag in uses:
        if flag not in defined and flag not in other_tools:
            errors.append(f"{where}: --{flag} is not a flag of perennial-server ({SERVER_MAIN})")


def run(root):
    """Returns (errors, notes)."""
    errors, notes = [], []
    if yaml is None:
        return ["python3-yaml is not installed (apt-get install python3-yaml)"], notes
    docs = load_all(root, errors)
    check_kubernetes(docs, errors)
    check_compose(root, docs, errors)
    check_flags(root, docs, errors, notes)
    return errors, notes


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--root", default=default_root, help="repository root")
    args = parser.parse_args(argv)
    errors, notes = run(args.root)
    for note in notes:
        print("note: " + note)
    for error in errors:
        print("error: " + error, file=sys.stderr)
    if errors:
        print(f"check_manifests: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print("check_manifests: deploy/ YAML parses and is consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
