"""Real Helm lints and renders charts/hami for every value set and Kubernetes version; the objects
are checked for what the cluster depends on: extender config vs resource names, ports, selectors,
probes, security contexts, TLS wiring."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from hami.config.devices import DeviceConfig, parse_device_config
from tests.chart.helmsdk import CHART, NAMESPACE, container, find, kinds, lint, render
from tests.chart.values_sets import CASE_IDS, CASES, CUSTOM_NAMES, VALUE_SETS
from tests.support.kubescheduler.config import parse_scheduler_config


def _merge(*parts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = _merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


@pytest.mark.parametrize(("name", "kube"), CASES, ids=CASE_IDS)
def test_lint_is_clean(name: str, kube: str) -> None:
    report = lint(VALUE_SETS[name], kube_version=kube)
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems


def _expected_managed(cfg: DeviceConfig, values: dict[str, Any]) -> list[tuple[str, bool]]:
    """What the extender must manage, from the device config alone: every vendor the scheduler
    registers (Ascend and Iluvatar only when enabled), in cw order, kube-scheduler ignoring all
    but Cambricon's node-capacity memory and cores; then the extra names."""
    devices = values.get("devices", {})
    c, h, nv = cfg.cambricon, cfg.hygon, cfg.nvidia
    by_cw: dict[str, list[tuple[str, bool]]] = {
        "NVIDIA": [(n, True) for n in nv.resource_names],
        "MLU": [(c.resource_count_name, True), (c.resource_memory_name, False),
                (c.resource_core_name, False)],
        "DCU": [(h.resource_count_name, True), (h.resource_memory_name, True),
                (h.resource_core_name, True)],
    }  # fmt: skip
    if devices.get("ascend", {}).get("enabled"):
        for m in cfg.vnpus.configs:
            names = (m.resource_name, m.resource_memory_name, m.resource_core_name)
            by_cw[m.common_word] = [(n, True) for n in names if n]
    if devices.get("iluvatar", {}).get("enabled"):
        for chip in cfg.iluvatars:
            names = (chip.resource_count_name, chip.resource_memory_name, chip.resource_core_name)
            by_cw[chip.common_word] = [(n, True) for n in names]
    extra = values.get("scheduler", {}).get("extender", {}).get("extraManagedResources", [])
    out: dict[str, bool] = {}
    for name, ignored in [
        *(p for cw in sorted(by_cw) for p in by_cw[cw]),
        *((n, True) for n in extra),
    ]:
        out.setdefault(name, ignored)
    return list(out.items())


@pytest.mark.parametrize(("name", "kube"), CASES, ids=CASE_IDS)
def test_extender_manages_exactly_the_device_config_names(name: str, kube: str) -> None:
    objs = render(VALUE_SETS[name], kube_version=kube)
    device_cfg = parse_device_config(
        yaml.safe_load(
            find(objs, "ConfigMap", "hami-scheduler-device")["data"]["device-config.yaml"]
        )
    )
    expected = _expected_managed(device_cfg, VALUE_SETS[name])
    text = find(objs, "ConfigMap", "hami-scheduler-config")["data"]["config.yaml"]
    parsed = parse_scheduler_config(text)  # kube-scheduler's strict field checks
    (ext,) = parsed.extenders
    assert [(r.name, r.ignored_by_scheduler) for r in ext.managed_resources] == expected
    assert parsed.scheduler_name == VALUE_SETS[name].get("schedulerName", "hami-scheduler")
    assert (ext.filter_verb, ext.bind_verb, ext.node_cache_capable) == ("filter", "bind", True)
    assert ext.http_timeout_s == 30.0
    doc = yaml.safe_load(text)
    assert doc["apiVersion"] == "kubescheduler.config.k8s.io/v1"
    assert doc["leaderElection"]["resourceNamespace"] == NAMESPACE
    if name == "custom-names":
        nvidia = [n for n, _ in expected if n.startswith("example.com/")]
        assert nvidia == list(CUSTOM_NAMES.values())


@pytest.mark.parametrize(
    ("devices", "flags", "first", "last_vendor"),
    [
        ({}, [], "hygon.com/dcunum", "nvidia.com/priority"),
        ({"ascend": {"enabled": True}}, ["--enable-ascend=true"], "huawei.com/Ascend310P",
         "nvidia.com/priority"),
        ({"iluvatar": {"enabled": True}}, ["--enable-iluvatar=true"], "iluvatar.ai/BI-V100-vgpu",
         "nvidia.com/priority"),
    ],
    ids=["defaults", "ascend", "iluvatar"],
)  # fmt: skip
def test_vendor_switches_add_the_flag_and_the_resources(
    devices: dict[str, Any], flags: list[str], first: str, last_vendor: str
) -> None:
    objs = render({"devices": devices})
    args = container(find(objs, "Deployment", "hami-scheduler"), "vgpu-scheduler-extender")["args"]
    assert [a for a in args if a.startswith("--enable-")] == flags
    cfg = yaml.safe_load(find(objs, "ConfigMap", "hami-scheduler-config")["data"]["config.yaml"])
    names = [r["name"] for r in cfg["extenders"][0]["managedResources"]]
    assert names[0] == first and names[-1] == last_vendor
    assert ("huawei.com/Ascend910B3-memory" in names) is bool(devices.get("ascend"))
    assert ("iluvatar.ai/MR-V100.vCore" in names) is bool(devices.get("iluvatar"))


def test_vendor_names_come_from_the_device_config_content() -> None:
    content = yaml.safe_dump({
        "cambricon": {"resourceCountName": "mlu.example/vmlu"},
        "vnpus": [{"commonWord": "Ascend910B3", "chipName": "910B3",
                   "resourceName": "npu.example/b3", "resourceMemoryName": "npu.example/b3-mem",
                   "memoryAllocatable": 65536, "memoryCapacity": 65536}],
    })  # fmt: skip
    values = {"device-config": {"content": content}, "devices": {"ascend": {"enabled": True}}}
    cfg = yaml.safe_load(
        find(render(values), "ConfigMap", "hami-scheduler-config")["data"]["config.yaml"]
    )
    managed = [
        (r["name"], r["ignoredByScheduler"]) for r in cfg["extenders"][0]["managedResources"]
    ]
    assert managed[:2] == [("npu.example/b3", True), ("npu.example/b3-mem", True)]
    assert ("mlu.example/vmlu", True) in managed
    assert ("cambricon.com/mlu.smlu.vmemory", False) in managed  # the rest of the defaults
    assert not [n for n, _ in managed if n.startswith("huawei.com/")]


@pytest.mark.parametrize("kube", ["v1.29.0", "v1.32.4", "v1.35.1"])
def test_kube_scheduler_image_follows_the_cluster(kube: str) -> None:
    dep = find(render(kube_version=kube), "Deployment", "hami-scheduler")
    assert container(dep, "kube-scheduler")["image"] == f"registry.k8s.io/kube-scheduler:{kube}"
    legacy = render({"scheduler": {"kubeScheduler": {"imageTag": "v1.30.2"}}}, kube_version=kube)
    ks = container(find(legacy, "Deployment", "hami-scheduler"), "kube-scheduler")
    assert ks["image"].endswith(":v1.30.2")


def test_kubernetes_older_than_1_25_is_refused() -> None:
    with pytest.raises(helm_python.HelmError, match="kubeVersion"):
        render(kube_version="v1.24.0")


def test_ports_and_services() -> None:
    objs = render()
    svc = find(objs, "Service", "hami-scheduler")
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    assert ports["http"]["port"] == 443 and ports["http"]["nodePort"] == 31998
    assert ports["http"]["targetPort"] == "https"
    assert ports["monitor"]["nodePort"] == ports["monitor"]["port"] == 31993  # as HAMi's
    assert ports["monitor"]["targetPort"] == "metrics"
    mon = find(objs, "Service", "hami-device-plugin-monitor")
    (mport,) = mon["spec"]["ports"]
    assert mport["nodePort"] == mport["port"] == 31992 and mport["targetPort"] == "metrics"
    dep = find(objs, "Deployment", "hami-scheduler")
    ext = container(dep, "vgpu-scheduler-extender")
    named = {p["name"]: p["containerPort"] for p in ext["ports"]}
    assert named == {"https": 8443, "metrics": 9395}
    ds = find(objs, "DaemonSet", "hami-device-plugin")
    assert {p["name"]: p["containerPort"] for p in container(ds, "vgpu-monitor")["ports"]} == {
        "metrics": 9394
    }
    # Services select the pods their selector labels name
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    ds_labels = ds["spec"]["template"]["metadata"]["labels"]
    assert mon["spec"]["selector"].items() <= ds_labels.items()


def test_webhook_defaults_selectors_and_exclusions() -> None:
    objs = render()
    (hook,) = find(objs, "MutatingWebhookConfiguration", "hami-webhook")["webhooks"]
    assert hook["failurePolicy"] == "Ignore"
    assert hook["sideEffects"] == "None"
    assert hook["clientConfig"]["service"] == {
        "name": "hami-scheduler", "namespace": NAMESPACE, "path": "/webhook", "port": 443,
    }  # fmt: skip
    assert hook["rules"][0]["resources"] == ["pods"] and hook["rules"][0]["operations"] == [
        "CREATE"
    ]
    ignore = {"key": "hami.io/webhook", "operator": "NotIn", "values": ["ignore"]}
    assert ignore in hook["objectSelector"]["matchExpressions"]
    assert ignore in hook["namespaceSelector"]["matchExpressions"]
    names = [
        e for e in hook["namespaceSelector"]["matchExpressions"]
        if e["key"] == "kubernetes.io/metadata.name"
    ]  # fmt: skip
    assert names == [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                      "values": ["kube-system"]}]  # fmt: skip
    other = render(namespace="hami-system")
    (hook2,) = find(other, "MutatingWebhookConfiguration", "hami-webhook")["webhooks"]
    excluded = next(
        e for e in hook2["namespaceSelector"]["matchExpressions"]
        if e["key"] == "kubernetes.io/metadata.name"
    )["values"]  # fmt: skip
    assert excluded == ["kube-system", "hami-system"]
    # hami's own pods never go through the webhook
    for kind, name in [("Deployment", "hami-scheduler"), ("DaemonSet", "hami-device-plugin"),
                       ("Job", "hami-certs")]:  # fmt: skip
        labels = find(objs, kind, name)["spec"]["template"]["metadata"]["labels"]
        assert labels["hami.io/webhook"] == "ignore"


def test_failure_policy_fail_and_custom_url() -> None:
    objs = render(VALUE_SETS["everything"])
    (hook,) = find(objs, "MutatingWebhookConfiguration", "hami-webhook")["webhooks"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["clientConfig"] == {"url": "https://10.0.0.1:31998/webhook"}
    values = next(
        e for e in hook["namespaceSelector"]["matchExpressions"]
        if e["key"] == "kubernetes.io/metadata.name"
    )["values"]  # fmt: skip
    assert values == ["kube-system", "monitoring"]
    job = find(objs, "Job", "hami-certs")
    assert "--host=10.0.0.1" in container(job, "certs")["args"]


def test_failure_policy_consequences_are_documented_next_to_the_value() -> None:
    text = (CHART / "values.yaml").read_text()
    block = text[text.index("admissionWebhook:") : text.index("failurePolicy: Ignore")]
    assert "CPU-only pods included" in block  # Fail
    assert "stay Pending" in block and "Recovery" in block  # Ignore


def test_tls_wiring_with_hami_certs() -> None:
    objs = render()
    dep = find(objs, "Deployment", "hami-scheduler")
    ext = container(dep, "vgpu-scheduler-extender")
    assert "--cert-file=/tls/tls.crt" in ext["args"] and "--key-file=/tls/tls.key" in ext["args"]
    assert ext["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8443, "scheme": "HTTPS"}
    assert ext["livenessProbe"]["httpGet"]["path"] == "/healthz"
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert vols["tls"]["secret"]["secretName"] == "hami-scheduler-tls"
    cfg = yaml.safe_load(find(objs, "ConfigMap", "hami-scheduler-config")["data"]["config.yaml"])
    (extender,) = cfg["extenders"]
    assert extender["urlPrefix"] == "https://127.0.0.1:8443" and extender["enableHTTPS"] is True
    assert extender["tlsConfig"] == {"caFile": "/tls/ca.crt"}
    ks = container(dep, "kube-scheduler")
    assert {"name": "tls", "mountPath": "/tls", "readOnly": True} in ks["volumeMounts"]
    job = find(objs, "Job", "hami-certs")
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert sorted(hooks) == ["post-install", "post-upgrade", "pre-install", "pre-upgrade"]
    args = container(job, "certs")["args"]
    assert "--secret-name=hami-scheduler-tls" in args and "--webhook-name=hami-webhook" in args
    assert "--host=hami-scheduler.kube-system.svc" in args and "--host=127.0.0.1" in args
    # the Job's RBAC exists before the Job runs
    for kind in ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"):
        weight = int(
            find(objs, kind, "hami-certs")["metadata"]["annotations"]["helm.sh/hook-weight"]
        )
        assert weight < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])


def test_webhook_off_serves_plain_http_and_needs_no_certificates() -> None:
    objs = render(VALUE_SETS["webhook-off"])
    names = kinds(objs)
    assert not any(n.startswith("MutatingWebhookConfiguration/") for n in names)
    assert "Job/hami-certs" not in names
    dep = find(objs, "Deployment", "hami-scheduler")
    ext = container(dep, "vgpu-scheduler-extender")
    assert "--http-bind=0.0.0.0:8080" in ext["args"]
    assert not any(a.startswith("--cert-file") for a in ext["args"])
    assert ext["readinessProbe"]["httpGet"]["scheme"] == "HTTP"
    assert "tls" not in {v["name"] for v in dep["spec"]["template"]["spec"]["volumes"]}
    cfg = yaml.safe_load(find(objs, "ConfigMap", "hami-scheduler-config")["data"]["config.yaml"])
    (extender,) = cfg["extenders"]
    assert extender["urlPrefix"] == "http://127.0.0.1:8080" and extender["enableHTTPS"] is False
    assert "tlsConfig" not in extender


def test_cert_manager_replaces_the_job() -> None:
    objs = render(VALUE_SETS["cert-manager"])
    assert "Job/hami-certs" not in kinds(objs)
    cert = find(objs, "Certificate", "hami-scheduler-serving")
    assert cert["spec"]["secretName"] == "hami-scheduler-tls"
    assert "hami-scheduler.kube-system.svc" in cert["spec"]["dnsNames"]
    assert cert["spec"]["ipAddresses"] == ["127.0.0.1"]
    assert cert["spec"]["issuerRef"]["name"] == "hami-scheduler-ca"
    assert find(objs, "Certificate", "hami-scheduler-ca")["spec"]["isCA"] is True
    mwc = find(objs, "MutatingWebhookConfiguration", "hami-webhook")
    assert mwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        "kube-system/hami-scheduler-serving"
    )


def test_ha_three_replicas() -> None:
    objs = render(VALUE_SETS["ha-3"])
    dep = find(objs, "Deployment", "hami-scheduler")
    assert dep["spec"]["replicas"] == 3
    ext = container(dep, "vgpu-scheduler-extender")
    assert "--leader-elect=true" in ext["args"]
    cfg = yaml.safe_load(find(objs, "ConfigMap", "hami-scheduler-config")["data"]["config.yaml"])
    assert cfg["leaderElection"]["leaderElect"] is True
    # kube-scheduler's Lease and hami's are different objects
    assert cfg["leaderElection"]["resourceName"] == "hami-scheduler"
    assert "--leader-elect-resource-name=hami-scheduler-extender" in ext["args"]
    anti = dep["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    term = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    env = {e["name"]: e for e in ext["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["HAMI_NODELOCK_EXPIRE"]["value"] == "5m"


def test_replicas_without_leader_election_is_refused() -> None:
    with pytest.raises(helm_python.HelmError, match="leaderElect"):
        render({"scheduler": {"replicas": 2, "leaderElect": False}})


def test_device_plugin_daemonset() -> None:
    objs = render()
    ds = find(objs, "DaemonSet", "hami-device-plugin")
    spec = ds["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"gpu": "on"}
    assert spec["hostPID"] is True
    dp = container(ds, "device-plugin")
    assert dp["securityContext"]["privileged"] is True
    mounts = {m["name"]: m["mountPath"] for m in dp["volumeMounts"]}
    vols = {v["name"]: v for v in spec["volumes"]}
    assert mounts["device-plugin"] == "/var/lib/kubelet/device-plugins"
    assert vols["device-plugin"]["hostPath"]["path"] == "/var/lib/kubelet/device-plugins"
    assert mounts["lib"] == vols["lib"]["hostPath"]["path"] == "/usr/local/vgpu"
    assert mounts["vgpulock"] == vols["vgpulock"]["hostPath"]["path"] == "/tmp/vgpulock"
    env = {e["name"]: e for e in dp["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["HOOK_PATH"]["value"] == "/usr/local"
    mon = container(ds, "vgpu-monitor")
    menv = {e["name"]: e for e in mon["env"]}
    assert menv["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert menv["HOOK_PATH"]["value"] == "/usr/local/vgpu"
    assert "--metrics-bind-address=:9394" in mon["args"]
    assert mon["livenessProbe"]["tcpSocket"]["port"] == "metrics"
    moved = find(render({"global": {"gpuHookPath": "/opt"}}), "DaemonSet", "hami-device-plugin")
    assert {e["name"]: e.get("value") for e in container(moved, "vgpu-monitor")["env"]}[
        "HOOK_PATH"
    ] == "/opt/vgpu"


def test_control_plane_security_contexts() -> None:
    objs = render()
    for kind, name, ctr in [
        ("Deployment", "hami-scheduler", "kube-scheduler"),
        ("Deployment", "hami-scheduler", "vgpu-scheduler-extender"),
        ("Job", "hami-certs", "certs"),
    ]:
        sc = container(find(objs, kind, name), ctr)["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"]["drop"] == ["ALL"]


def test_images_and_tags() -> None:
    objs = render()
    dep = find(objs, "Deployment", "hami-scheduler")
    assert container(dep, "vgpu-scheduler-extender")["image"] == "hami/hami:0.1.0"
    ds = find(objs, "DaemonSet", "hami-device-plugin")
    assert container(ds, "device-plugin")["image"] == "hami/hami-device-plugin:0.1.0"
    assert container(ds, "vgpu-monitor")["image"] == "hami/hami-device-plugin:0.1.0"
    objs = render(VALUE_SETS["everything"])
    dep = find(objs, "Deployment", "hami-scheduler")
    assert container(dep, "vgpu-scheduler-extender")["image"] == "registry.example.com/hami/hami:v9"


def test_optional_objects() -> None:
    names = kinds(render())
    assert not any(n.startswith(("ServiceMonitor/", "RuntimeClass/")) for n in names)
    assert "ConfigMap/hami-dashboards" not in names
    objs = render(VALUE_SETS["everything"])
    assert (
        find(objs, "ServiceMonitor", "hami-scheduler")["spec"]["endpoints"][0]["port"] == "monitor"
    )
    assert find(objs, "ServiceMonitor", "hami-device-plugin")["spec"]["endpoints"][0]["port"] == (
        "monitorport"
    )
    assert find(objs, "RuntimeClass", "nvidia")["handler"] == "nvidia"


def test_dashboard_configmap_ships_every_dashboard_file() -> None:
    cm = find(render({"dashboard": {"enabled": True}}), "ConfigMap", "hami-dashboards")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    files = sorted((CHART / "dashboards").glob("*.json"))
    if files:
        assert sorted(cm["data"]) == [f.name for f in files]
        for f in files:
            assert cm["data"][f.name] == f.read_text().rstrip("\n")
    else:
        assert list(cm["data"]) == ["README"]


def test_device_config_carries_the_values(tmp_path: Path) -> None:
    values = _merge(
        CUSTOM_NAMES,
        {"devicePlugin": {"deviceSplitCount": 4, "deviceMemoryScaling": 1.5,
                          "migStrategy": "mixed", "disablecorelimit": "true"},
         "devices": {"nvidia": {"gpuCorePolicy": "force", "libCudaLogLevel": 3}}},
    )  # fmt: skip
    cm = find(render(values), "ConfigMap", "hami-scheduler-device")
    nv = parse_device_config(yaml.safe_load(cm["data"]["device-config.yaml"])).nvidia
    assert (nv.resource_count_name, nv.resource_core_name) == (
        "example.com/vgpu",
        "example.com/vcores",
    )
    assert (nv.device_split_count, nv.device_memory_scaling) == (4, 1.5)
    assert (nv.mig_strategy, nv.disable_core_limit, nv.gpu_core_policy) == ("mixed", True, "force")


def test_raw_device_config_content_drives_the_managed_resources() -> None:
    content = "version: v1\nnvidia:\n  resourceCountName: acme.io/gpu\n  deviceSplitCount: 3\n"
    objs = render({"device-config": {"content": content}})
    cm = find(objs, "ConfigMap", "hami-scheduler-device")
    assert cm["data"]["device-config.yaml"].strip() == content.strip()
    cfg = parse_scheduler_config(
        find(objs, "ConfigMap", "hami-scheduler-config")["data"]["config.yaml"]
    )
    names = [r.name for r in cfg.extenders[0].managed_resources]
    nvidia = names.index("acme.io/gpu")  # after the DCU and MLU names (cw order)
    assert names[nvidia : nvidia + 2] == ["acme.io/gpu", "nvidia.com/gpumem"]
    assert "nvidia.com/gpu" not in names


def test_node_config_is_json_for_the_plugin() -> None:
    objs = render(VALUE_SETS["everything"])
    cm = find(objs, "ConfigMap", "hami-device-plugin")
    assert yaml.safe_load(cm["data"]["config.json"]) == {
        "nodeconfig": [{"name": "n1", "devicesplitcount": 4}]
    }
    ext = render({"devicePlugin": {"nodeConfiguration": {"externalConfigName": "mine"}}})
    assert "ConfigMap/hami-device-plugin" not in kinds(ext)
    ds = find(ext, "DaemonSet", "hami-device-plugin")
    vols = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
    assert vols["node-config"]["configMap"]["name"] == "mine"


def test_namespaced_objects_live_in_the_release_namespace() -> None:
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration",
                      "RuntimeClass"}  # fmt: skip
    for obj in render(VALUE_SETS["everything"], namespace="gpu"):
        meta = obj["metadata"]
        if obj["kind"] in cluster_scoped:
            assert "namespace" not in meta, obj["kind"]
        elif meta["name"].endswith("-auth-reader"):
            assert meta["namespace"] == "kube-system"
        else:
            assert meta["namespace"] == "gpu", f"{obj['kind']}/{meta['name']}"


def test_rendered_secret_free() -> None:
    """The chart never renders key material: Secrets are made at install time."""
    for obj in render(VALUE_SETS["everything"]):
        assert obj["kind"] != "Secret"
        text = yaml.safe_dump(obj)
        assert "PRIVATE KEY" not in text and base64.b64encode(b"-----BEGIN").decode() not in text


@pytest.mark.parametrize(
    ("values", "absent"),
    [
        (
            {"scheduler": {"kubeScheduler": {"enabled": False}}},
            {
                "ConfigMap/hami-scheduler-config",
                "ClusterRoleBinding/hami-scheduler-kube-scheduler",
                "RoleBinding/hami-scheduler-auth-reader",
            },
        ),
        ({"devicePlugin": {"monitor": {"enabled": False}}}, {"Service/hami-device-plugin-monitor"}),
        ({"scheduler": {"patch": {"enabled": False}}}, {"Job/hami-certs", "Role/hami-certs"}),
    ],
    ids=["no-kube-scheduler", "no-monitor", "own-certificates"],
)
def test_switches_leave_out_their_objects(values: dict[str, Any], absent: set[str]) -> None:
    report = lint(values)
    assert not [m for m in report["messages"] if m["severity"] >= 2], report
    names = kinds(render(values))
    assert not names & absent
    assert {"Deployment/hami-scheduler", "DaemonSet/hami-device-plugin"} <= names
    if values.get("scheduler", {}).get("kubeScheduler"):
        dep = find(render(values), "Deployment", "hami-scheduler")
        ctrs = [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
        assert ctrs == ["vgpu-scheduler-extender"]
    if values.get("devicePlugin"):
        ds = find(render(values), "DaemonSet", "hami-device-plugin")
        ctrs = [c["name"] for c in ds["spec"]["template"]["spec"]["containers"]]
        assert ctrs == ["device-plugin"]
