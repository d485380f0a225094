#!/usr/bin/python3
"""Renders one kustomize overlay and checks what it would deploy.

  k8s_check.py OVERLAY TOOLS_DIR NODE_MODULES [OVERLAY_DIR]

OVERLAY (dev or prod) selects the rules; OVERLAY_DIR defaults to
deploy/k8s/overlays/OVERLAY (the self-test passes a deliberately broken one).

- the overlay renders (kubectl kustomize, the pinned kubectl of fetch_kubectl.py);
- every object passes the kubernetes-models schema check (validate_k8s.js: its
  model's validate() and no unknown field);
- the issue's requirements hold on the rendered objects: restricted pod security,
  requests and limits, gRPC probes on the coordinator's port, headless Service,
  HPA and PDBs, migration Job, RWX storage, secrets only through Secret
  references, network policies (only workers reach the internet, only clients
  reach the coordinator), consistent ports.
"""

import ipaddress
import json
import os
import re
import sys
import tempfile

import deploylib
from deploylib import Checker, find, pod_templates

SECRET_NAME = re.compile(r"(KEY|TOKEN|PASSWORD|SECRET|DATABASE_URL|CREDENTIAL)", re.I)
URL_WITH_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s]+@")


def labels_match(selector, labels):
    """Kubernetes label selector semantics (matchLabels + matchExpressions)."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def component(obj):
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def pod_labels(obj):
    if obj["kind"] == "Pod":
        return obj["metadata"].get("labels", {})
    return obj["spec"]["template"]["metadata"].get("labels", {})


def port_allows(rule_ports, port):
    """Whether a NetworkPolicy rule's ports list admits TCP `port`."""
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != "TCP":
            continue
        if "port" not in p:
            return True
        lo = p["port"]
        hi = p.get("endPort", lo)
        if isinstance(lo, int) and lo <= port <= hi:
            return True
    return False


def peer_is_outside(peer):
    """Whether a NetworkPolicy egress peer admits addresses outside the cluster."""
    block = peer.get("ipBlock")
    if not block:
        return False
    net = ipaddress.ip_network(block["cidr"])
    return not net.is_private or net.prefixlen == 0


def egress_ports(policies, labels, ports, outside_only):
    """Which TCP `ports` a pod with `labels` may reach: anywhere, or (outside_only)
    at addresses outside the cluster."""
    allowed = set()
    for pol in policies:
        spec = pol["spec"]
        if "Egress" not in spec.get("policyTypes", []) or not labels_match(
                spec.get("podSelector", {}), labels):
            continue
        for rule in spec.get("egress") or []:
            to = rule.get("to")
            if outside_only and to and not any(peer_is_outside(p) for p in to):
                continue
            allowed |= {p for p in ports if port_allows(rule.get("ports"), p)}
    return allowed


def ingress_peers(policies, labels, port):
    """The peers that may reach TCP `port` of a pod with `labels` (None: anyone)."""
    peers = []
    for pol in policies:
        spec = pol["spec"]
        if "Ingress" not in spec.get("policyTypes", []) or not labels_match(
                spec.get("podSelector", {}), labels):
            continue
        for rule in spec.get("ingress") or []:
            if not port_allows(rule.get("ports"), port):
                continue
            if not rule.get("from"):
                return None
            peers.extend(rule["from"])
    return peers


def check_pod_security(c, obj, pod):
    where = f"{obj['kind']}/{obj['metadata']['name']}"
    psc = pod.get("securityContext", {})
    c.check(psc.get("runAsNonRoot") is True, f"{where}: pod securityContext.runAsNonRoot")
    c.check(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0,
            f"{where}: pod securityContext.runAsUser must be a non-zero UID")
    c.check(pod.get("automountServiceAccountToken") is False,
            f"{where}: automountServiceAccountToken must be false")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        c.check(not pod.get(key), f"{where}: {key}")
    for vol in pod.get("volumes", []):
        c.check("hostPath" not in vol, f"{where}: hostPath volume {vol['name']}")
    containers = pod.get("initContainers", []) + pod.get("containers", [])
    for ctr in containers:
        w = f"{where} container {ctr['name']}"
        sc = ctr.get("securityContext", {})
        seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
        c.check(seccomp == "RuntimeDefault", f"{w}: seccompProfile RuntimeDefault")
        c.check(sc.get("allowPrivilegeEscalation") is False,
                f"{w}: allowPrivilegeEscalation must be false")
        c.check(sc.get("readOnlyRootFilesystem") is True,
                f"{w}: readOnlyRootFilesystem must be true")
        c.check(not sc.get("privileged"), f"{w}: privileged")
        caps = sc.get("capabilities", {})
        c.check("ALL" in caps.get("drop", []), f"{w}: capabilities.drop must contain ALL")
        c.check(not caps.get("add"), f"{w}: capabilities.add must be empty")
        if sc.get("runAsUser") is not None:
            c.check(sc["runAsUser"] > 0, f"{w}: runs as root")
        res = ctr.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                c.check(r in res.get(kind, {}), f"{w}: resources.{kind}.{r}")


def check_secrets(c, objects, overlay, k8s_readme):
    configmaps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    for name, cm in configmaps.items():
        for key, value in (cm.get("data") or {}).items():
            c.check(not SECRET_NAME.search(key) or key.endswith("_FILE"),
                    f"ConfigMap/{name}: key {key} looks like a secret; use a Secret")
            c.check(not URL_WITH_PASSWORD.search(value) and not value.startswith("sk-"),
                    f"ConfigMap/{name}: value of {key} looks like a credential")
    referenced = {}  # secret name -> keys used (None: the whole Secret)
    for obj, pod in pod_templates(objects):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        for ctr in pod.get("initContainers", []) + pod.get("containers", []):
            for env in ctr.get("env", []):
                name = env["name"]
                if "value" in env:
                    c.check(not SECRET_NAME.search(name) or name.endswith("_FILE"),
                            f"{where}: env {name} has a literal value; use a secretKeyRef")
                    c.check(not URL_WITH_PASSWORD.search(env["value"]),
                            f"{where}: env {name} holds a credential")
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    referenced.setdefault(ref["name"], set()).add(ref["key"])
                cm = env.get("valueFrom", {}).get("configMapKeyRef")
                if cm:
                    c.check(cm["name"] in configmaps, f"{where}: ConfigMap {cm['name']} not rendered")
            for src in ctr.get("envFrom", []):
                if "configMapRef" in src:
                    c.check(src["configMapRef"]["name"] in configmaps,
                            f"{where}: ConfigMap {src['configMapRef']['name']} not rendered")
                if "secretRef" in src:
                    referenced.setdefault(src["secretRef"]["name"], None)
        for vol in pod.get("volumes", []):
            if "secret" in vol:
                keys = {i["key"] for i in vol["secret"].get("items", [])} or None
                referenced.setdefault(vol["secret"]["secretName"], keys)
            if "configMap" in vol:
                c.check(vol["configMap"]["name"] in configmaps,
                        f"{where}: ConfigMap {vol['configMap']['name']} not rendered")
    external = deploylib.EXTERNAL_SECRETS
    for name, keys in referenced.items():
        if name in secrets:
            data = set((secrets[name].get("data") or {}).keys()) | set(
                (secrets[name].get("stringData") or {}).keys())
            c.check(keys is None or keys <= data,
                    f"Secret/{name} lacks keys {sorted((keys or set()) - data)}")
        else:
            base = name
            c.check(base in external,
                    f"{overlay}: Secret {name} is neither rendered nor a documented external Secret")
            if base in external and keys:
                c.check(keys <= set(external[base]),
                        f"{overlay}: Secret {name} keys {sorted(keys)} differ from the documented "
                        f"{external[base]}")
    if overlay == "prod":
        c.check(not secrets, f"prod renders Secrets {sorted(secrets)}: production secrets "
                             "must come from outside the repository")
        for name, keys in external.items():
            c.check(name in referenced, f"prod does not use the external Secret {name}")
            c.check(name in k8s_readme, f"deploy/k8s/README.md does not document Secret {name}")
            for key in keys:
                c.check(f"{key}" in k8s_readme,
                        f"deploy/k8s/README.md does not name key {key} of Secret {name}")


def check_network(c, objects, workloads):
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    c.check(any(p["spec"].get("podSelector") in ({}, None)
                and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
                and not p["spec"].get("ingress") and not p["spec"].get("egress")
                for p in policies), "no default-deny NetworkPolicy (ingress and egress)")
    probe_ports = [53, 80, 443, 5432, 8080, 50051]
    for obj in workloads:
        comp = component(obj)
        labels = pod_labels(obj)
        internet = egress_ports(policies, labels, probe_ports, outside_only=True)
        c.check(53 in internet, f"{comp}: DNS egress is not allowed")
        if comp == "worker":
            c.check(443 in internet, "worker: egress to the internet on 443 is not allowed")
        else:
            c.check(443 not in internet and 80 not in internet,
                    f"{comp}: may reach the internet (ports {sorted(internet)}); only workers may")
        if comp in ("coordinator", "worker", "migrate"):
            c.check(5432 in egress_ports(policies, labels, [5432], outside_only=False),
                    f"{comp}: cannot reach PostgreSQL (5432)")
    coordinator = next((o for o in workloads if component(o) == "coordinator"), None)
    if c.check(coordinator is not None, "no coordinator workload"):
        peers = ingress_peers(policies, pod_labels(coordinator), 50051)
        c.check(peers is not None and peers,
                "coordinator gRPC port: open to everyone or to no one")
        for peer in peers or []:
            sel = peer.get("podSelector", {}).get("matchLabels", {})
            c.check(sel.get("batchscribe.io/client") == "true" and "ipBlock" not in peer,
                    f"coordinator gRPC port admits a non-client peer {json.dumps(peer)}")
    for obj in workloads:
        comp = component(obj)
        if comp == "coordinator":
            continue
        c.check(ingress_peers(policies, pod_labels(obj), 50051) == [],
                f"{comp}: port 50051 is reachable")


def container_env(objects, ctr):
    """Environment of a container: literal env and ConfigMap envFrom keys."""
    out = {}
    for src in ctr.get("envFrom", []):
        if "configMapRef" in src:
            cm = find(objects, "ConfigMap", src["configMapRef"]["name"])
            if cm:
                out.update(cm.get("data") or {})
    for env in ctr.get("env", []):
        out[env["name"]] = env.get("value")
    return out


def check_workloads(c, objects, overlay):
    workloads = [o for o, _ in pod_templates(objects)]
    by_comp = {component(o): o for o in workloads}
    for comp in ("coordinator", "worker", "migrate"):
        c.check(comp in by_comp, f"no {comp} workload")
    if overlay == "dev":
        for comp in ("postgres", "openai-emulator"):
            c.check(comp in by_comp, f"dev has no {comp} workload")
        pg = by_comp.get("postgres")
        if pg:
            c.check(pg["kind"] == "StatefulSet" and pg["spec"].get("replicas") == 1,
                    "dev postgres must be a single-replica StatefulSet")

    images = set()
    for obj, pod in pod_templates(objects):
        for ctr in pod.get("containers", []):
            if ctr.get("command", [""])[0] in deploylib.BINARIES:
                images.add(ctr["image"])
    c.check(len(images) == 1, f"batchscribe containers use several images: {sorted(images)}")
    if overlay == "prod":
        for image in images:
            c.check(not re.search(r":(local|latest)$", image) and ":" in image,
                    f"prod image {image} must have a release tag")

    coord = by_comp.get("coordinator")
    if coord:
        spec = coord["spec"]
        pod = spec["template"]["spec"]
        ctr = pod["containers"][0]
        c.check(coord["kind"] == "Deployment" and spec.get("replicas", 1) >= 2,
                "coordinator: a Deployment with at least 2 replicas")
        ports = {p.get("name"): p["containerPort"] for p in ctr.get("ports", [])}
        env = container_env(objects, ctr)
        listen_port = int(str(env.get("BATCHSCRIBE_LISTEN", ":50051")).rsplit(":", 1)[1])
        c.check(ports.get("grpc") == listen_port,
                f"coordinator: containerPort grpc {ports.get('grpc')} != listen port {listen_port}")
        for probe in ("readinessProbe", "livenessProbe"):
            p = ctr.get(probe, {})
            c.check(p.get("grpc", {}).get("port") == listen_port,
                    f"coordinator: {probe} must be a native gRPC probe on {listen_port}")
        metrics = env.get("BATCHSCRIBE_METRICS_PORT")
        c.check(metrics is not None and int(metrics) == ports.get("metrics"),
                "coordinator: BATCHSCRIBE_METRICS_PORT != containerPort metrics")
        ann = spec["template"]["metadata"].get("annotations", {})
        c.check(ann.get("prometheus.io/port") == str(ports.get("metrics")),
                "coordinator: prometheus.io/port annotation != metrics port")
        svc = find(objects, "Service", "batchscribe-coordinator")
        if c.check(svc is not None, "no Service batchscribe-coordinator"):
            c.check(svc["spec"].get("clusterIP") == "None",
                    "coordinator Service must be headless (clusterIP: None)")
            c.check(labels_match({"matchLabels": svc["spec"]["selector"]}, pod_labels(coord)),
                    "coordinator Service does not select the coordinator pods")
            grpc = [p for p in svc["spec"]["ports"] if p["name"] == "grpc"]
            c.check(grpc and grpc[0]["port"] == listen_port and grpc[0].get("targetPort") in (
                "grpc", listen_port), "coordinator Service grpc port mismatch")

    worker = by_comp.get("worker")
    if worker:
        pod = worker["spec"]["template"]["spec"]
        ctr = pod["containers"][0]
        c.check("replicas" not in worker["spec"],
                "worker Deployment sets replicas; the HPA owns the count")
        hpas = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"
                and o["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
                and o["spec"]["scaleTargetRef"]["kind"] == "Deployment"]
        if c.check(len(hpas) == 1, "worker: exactly one HPA must target the worker Deployment"):
            hpa = hpas[0]["spec"]
            c.check(any(m["type"] == "Resource" and m["resource"]["name"] == "cpu"
                        for m in hpa["metrics"]), "worker HPA does not scale on CPU")
            c.check(1 <= hpa.get("minReplicas", 1) <= hpa["maxReplicas"], "worker HPA bounds")
        ports = {p.get("name"): p["containerPort"] for p in ctr.get("ports", [])}
        env = container_env(objects, ctr)
        metrics = env.get("BATCHSCRIBE_METRICS_PORT")
        c.check(metrics is not None and int(metrics) == ports.get("metrics"),
                "worker: BATCHSCRIBE_METRICS_PORT != containerPort metrics")
        health = env.get("BATCHSCRIBE_HEALTH_PORT")
        c.check(health is not None and int(health) == ports.get("health"),
                "worker: BATCHSCRIBE_HEALTH_PORT != containerPort health")
        for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
            get = ctr.get(probe, {}).get("httpGet", {})
            c.check(get.get("path") == path and get.get("port") in ("health", ports.get("health")),
                    f"worker: {probe} must be GET {path} on the health port")
        grace = pod.get("terminationGracePeriodSeconds")
        drain = deploylib.worker_drain_seconds(ctr.get("command", [])[1:] + ctr.get("args", []), env)
        if c.check(isinstance(grace, int) and drain is not None,
                   "worker: set terminationGracePeriodSeconds and the drain (BATCHSCRIBE_DRAIN_SECONDS)"):
            c.check(grace >= drain + deploylib.HAND_BACK_SECONDS,
                    f"worker: terminationGracePeriodSeconds {grace} does not fit the drain "
                    f"({drain} s + {deploylib.HAND_BACK_SECONDS} s to hand back)")

    for comp in ("coordinator", "worker"):
        obj = by_comp.get(comp)
        if obj:
            pdbs = [o for o in objects if o["kind"] == "PodDisruptionBudget"
                    and labels_match(o["spec"]["selector"], pod_labels(obj))]
            c.check(len(pdbs) == 1, f"{comp}: exactly one PodDisruptionBudget")

    job = by_comp.get("migrate")
    if job:
        ctr = job["spec"]["template"]["spec"]["containers"][0]
        c.check(job["kind"] == "Job" and ctr.get("command", []) + ctr.get("args", []) == [
            "batchscribe-coordinator", "--migrate_only"],
            "migrate: a Job running batchscribe-coordinator --migrate_only")

    pvc = find(objects, "PersistentVolumeClaim", "batchscribe-data")
    if c.check(pvc is not None, "no PersistentVolumeClaim batchscribe-data"):
        modes = pvc["spec"]["accessModes"]
        if overlay == "prod":
            c.check(modes == ["ReadWriteMany"], f"prod shared storage must be RWX, is {modes}")
        for comp in ("coordinator", "worker"):
            obj = by_comp.get(comp)
            if not obj:
                continue
            pod = obj["spec"]["template"]["spec"]
            vols = {v["name"] for v in pod.get("volumes", [])
                    if v.get("persistentVolumeClaim", {}).get("claimName") == "batchscribe-data"}
            mounts = [m["mountPath"] for m in pod["containers"][0].get("volumeMounts", [])
                      if m["name"] in vols]
            c.check(mounts == ["/data"], f"{comp}: shared storage must be mounted at /data")

    for obj, pod in pod_templates(objects):
        check_pod_security(c, obj, pod)
    check_network(c, objects, workloads)


def main():
    if len(sys.argv) not in (4, 5):
        print("usage: k8s_check.py OVERLAY TOOLS_DIR NODE_MODULES [OVERLAY_DIR]")
        sys.exit(2)
    overlay, tools_dir, node_modules = sys.argv[1:4]
    src = deploylib.source_dir()
    overlay_dir = sys.argv[4] if len(sys.argv) == 5 else os.path.join(
        src, "deploy", "k8s", "overlays", overlay)
    name = f"k8s_{overlay}"
    c = Checker(name)
    objects = deploylib.render_overlay(name, deploylib.kubectl_path(tools_dir), overlay_dir)
    c.check(len(objects) > 10, f"{overlay} rendered only {len(objects)} objects")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "objects.json")
        deploylib.write_json(path, objects)
        r = deploylib.run(["node", os.path.join(os.path.dirname(__file__), "validate_k8s.js"),
                           node_modules, path])
        print(r.stdout, end="")
        c.check(r.returncode == 0, f"schema check failed:\n{r.stdout}{r.stderr}")

    namespaces = [o for o in objects if o["kind"] == "Namespace"]
    if c.check(len(namespaces) == 1, f"{overlay}: exactly one Namespace"):
        ns = namespaces[0]
        c.check(ns["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce")
                == "restricted", f"Namespace {ns['metadata']['name']} does not enforce restricted")
        for obj in objects:
            if obj["kind"] != "Namespace":
                c.check(obj["metadata"].get("namespace") == ns["metadata"]["name"],
                        f"{obj['kind']}/{obj['metadata']['name']} outside the namespace")

    with open(os.path.join(src, "deploy", "k8s", "README.md")) as f:
        readme = f.read()
    check_workloads(c, objects, overlay)
    check_secrets(c, objects, overlay, readme)
    c.done()


if __name__ == "__main__":
    main()
