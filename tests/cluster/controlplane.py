"""A real Kubernetes control plane on loopback for hami's end-to-end tests.

etcd (Debian ``etcd-server``) + kube-apiserver + kube-controller-manager + kube-scheduler (built
from Kubernetes' Go modules by ``tests/cluster/build.sh``) + ``hami scheduler`` as extender and
admission webhook. Every component runs as a child process on free ports with its own log file
under one temporary directory; ``ControlPlane.tails()`` prints the end of each log.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from .pki import Pki

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HAMI_SCHEDULER = "hami-scheduler"
VENDOR_FLAGS = ("--enable-ascend", "--enable-iluvatar")
"""Every vendor on: ``hami scheduler`` and ``hami scheduler-config`` take the same flags, so
kube-scheduler's ``managedResources`` list every vendor the extender schedules."""
SERVICE_CIDR = "10.0.0.0/24"


class ClusterError(RuntimeError):
    """A component could not be built or started; the message says which and why."""


def ca_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def host_ip() -> str:
    """A non-loopback IPv4 address of this machine (the apiserver advertises it; Endpoints
    refuse loopback addresses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
        sock.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        ip = str(sock.getsockname()[0])
        if not ip.startswith("127.") and ip != "0.0.0.0":
            return ip
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout
    for ip in out.split():
        if "." in ip and not ip.startswith("127."):
            return ip
    raise ClusterError("no non-loopback IPv4 address on this machine")


def kube_bin_dir() -> Path:
    """The cached Kubernetes binaries (``build.sh`` builds them once per version; scripts/test
    runs it before pytest, since a cold build takes longer than a test may)."""
    proc = subprocess.run(
        ["bash", str(HERE / "build.sh"), "--check"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ClusterError(f"tests/cluster/build.sh failed:\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def kube_version() -> str:
    for line in (HERE / "go.mod").read_text().splitlines():
        parts = line.split()
        if "k8s.io/kubernetes" in parts:
            return parts[parts.index("k8s.io/kubernetes") + 1]
    raise ClusterError("go.mod pins no k8s.io/kubernetes")


class Proc:
    """One child process with its log file."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None):
        self.name = name
        self.argv = argv
        self.log = log
        self.env = env
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        if not Path(self.argv[0]).exists() and shutil.which(self.argv[0]) is None:
            raise ClusterError(f"{self.name}: {self.argv[0]} not found")
        with self.log.open("ab") as out:
            out.write(f"\n==== start {time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, start_new_session=True, cwd=ROOT,
            )  # fmt: skip
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self.popen = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def wait_until(
    what: str, predicate: Callable[[], bool], timeout: float, proc: Proc | None = None
) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive:
            raise ClusterError(f"{what}: process exited early\n{proc.tail()}")
        try:
            if predicate():
                return
        except Exception as exc:
            last = exc
        time.sleep(0.2)
    raise ClusterError(
        f"{what}: not ready after {timeout:.0f} s (last error: {last!r})\n"
        f"{proc.tail() if proc else ''}"
    )


class Api:
    """A tiny synchronous client for the test cluster (admin token, verified TLS)."""

    def __init__(self, url: str, token: str, ca: Path, timeout: float = 15.0) -> None:
        self.url = url
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, verify=ca_context(ca),
            timeout=timeout,
        )  # fmt: skip

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, path, **kw)

    def _ok(self, resp: httpx.Response) -> Any:
        if resp.status_code >= 300:
            raise httpx.HTTPStatusError(
                f"{resp.request.method} {resp.request.url.path}: {resp.status_code} {resp.text}",
                request=resp.request, response=resp,
            )  # fmt: skip
        return resp.json()

    def get(self, path: str, **params: Any) -> Any:
        return self._ok(self.http.get(path, params=params))

    def create(self, path: str, body: dict[str, Any]) -> Any:
        return self._ok(self.http.post(path, json=body))

    def apply(self, path: str, body: dict[str, Any]) -> Any:
        """Create, or replace an existing object of the same name."""
        resp = self.http.post(path, json=body)
        if resp.status_code == 409:
            name = body["metadata"]["name"]
            current = self.get(f"{path}/{name}")
            body = {**body, "metadata": {**body["metadata"],
                    "resourceVersion": current["metadata"]["resourceVersion"]}}  # fmt: skip
            return self._ok(self.http.put(f"{path}/{name}", json=body))
        return self._ok(resp)

    def patch(self, path: str, body: Any, kind: str = "merge") -> Any:
        ctype = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
        }[kind]
        return self._ok(
            self.http.patch(path, content=json.dumps(body), headers={"Content-Type": ctype})
        )

    def delete(self, path: str, **params: Any) -> httpx.Response:
        return self.http.delete(path, params=params)


class ControlPlane:
    """Starts and stops the components; ``workdir`` holds certs, configs, data and logs."""

    def __init__(
        self,
        *,
        workdir: Path | None = None,
        audit: bool = False,
        kubelet_nodes: tuple[str, ...] = (),
    ) -> None:
        self.version = kube_version()
        self.bin = kube_bin_dir()
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="hami-cluster-"))
        self.logs = self.workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.audit = audit
        self.procs: dict[str, Proc] = {}
        self.host_ip = host_ip()
        self.tokens: dict[str, str] = {}
        self.etcd_url = ""
        self.url = ""
        self.hami_url = ""
        self._api: Api | None = None
        self._etcd_dir: Path | None = None
        self.kubelet_nodes = kubelet_nodes
        self.node_kubeconfigs: dict[str, Path] = {}

    # -- setup -------------------------------------------------------------------------------

    def _write(self, name: str, text: str) -> Path:
        path = self.workdir / name
        path.write_text(text)
        return path

    def _kubeconfig(self, name: str, token: str) -> Path:
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {
                "server": self.url, "certificate-authority": str(self.pki.ca)}}],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": "test", "context": {
                "cluster": "test", "user": name, "namespace": "default"}}],
            "current-context": "test",
        }  # fmt: skip
        return self._write(f"{name}.kubeconfig", yaml.safe_dump(doc))

    def _pki(self) -> None:
        self.apiserver_port = free_port()
        self.url = f"https://127.0.0.1:{self.apiserver_port}"
        self.pki = Pki(self.workdir / "pki")
        self.apiserver_cert = self.pki.issue(
            "kube-apiserver", ips=("127.0.0.1", "10.0.0.1", self.host_ip),
            dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
        )  # fmt: skip
        self.hami_cert = self.pki.issue("hami-scheduler", ips=("127.0.0.1",), dns=("localhost",))
        self.sa = self.pki.service_account_keys()
        users = {
            # token -> user, uid, groups (the static token file format)
            "admin": ("admin", "system:masters"),
            # Own identities so the audit log tells the components' writes apart.
            "hami": ("hami-scheduler", "system:masters"),
            "device-plugin": ("hami-device-plugin", "system:masters"),
            "allocator": ("test-allocator", "system:masters"),
            "kube-scheduler": ("system:kube-scheduler", ""),
            "kube-controller-manager": ("system:kube-controller-manager", ""),
        }
        lines = []
        for key, (user, groups) in users.items():
            token = secrets.token_hex(16)
            self.tokens[key] = token
            lines.append(
                f'{token},{user},{user},"{groups}"' if groups else f"{token},{user},{user}"
            )
        for node in self.kubelet_nodes:
            # kubelet's identity for the Node authorizer: system:node:<name> in system:nodes
            token = secrets.token_hex(16)
            user = f"system:node:{node}"
            lines.append(f'{token},{user},{user},"system:nodes"')
            self.node_kubeconfigs[node] = self._kubeconfig(f"kubelet-{node}", token)
        self.token_file = self._write("tokens.csv", "\n".join(lines) + "\n")

    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        proc = Proc(name, argv, self.logs / f"{name}.log", env)
        self.procs[name] = proc
        return proc.start()

    def start_etcd(self) -> None:
        base = Path("/dev/shm") if Path("/dev/shm").is_dir() else self.workdir
        self._etcd_dir = Path(tempfile.mkdtemp(prefix="hami-etcd-", dir=base))
        exe = shutil.which("etcd")
        if exe is None:
            raise ClusterError(
                "etcd not found: install Debian's etcd-server (apt-get install etcd-server)"
            )
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        proc = self._start("etcd", [
            exe, "--name", "hami-test", "--data-dir", str(self._etcd_dir),
            "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"hami-test=http://127.0.0.1:{peer}",
            "--log-level", "warn", "--logger", "zap",
        ])  # fmt: skip
        health = f"{self.etcd_url}/health"
        wait_until("etcd", lambda: httpx.get(health, timeout=1).status_code == 200, 30, proc)

    def _apiserver_argv(self) -> list[str]:
        argv = [
            str(self.bin / "kube-apiserver"),
            "--etcd-servers",
            self.etcd_url,
            "--bind-address",
            "127.0.0.1",
            "--advertise-address",
            self.host_ip,
            "--secure-port",
            str(self.apiserver_port),
            "--tls-cert-file",
            str(self.apiserver_cert.cert),
            "--tls-private-key-file",
            str(self.apiserver_cert.key),
            "--client-ca-file",
            str(self.pki.ca),
            "--token-auth-file",
            str(self.token_file),
            "--authorization-mode",
            "Node,RBAC",
            "--service-cluster-ip-range",
            SERVICE_CIDR,
            "--service-account-issuer",
            "https://kubernetes.default.svc",
            "--service-account-key-file",
            str(self.sa.cert),
            "--service-account-signing-key-file",
            str(self.sa.key),
            "--allow-privileged=true",
            "--kubelet-preferred-address-types",
            "InternalIP,Hostname",
            "--cert-dir",
            str(self.workdir / "apiserver-certs"),
            "--v",
            "1",
        ]
        if self.audit:
            policy = self._write("audit-policy.yaml", yaml.safe_dump({
                "apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                "omitStages": ["RequestReceived", "ResponseStarted"],
                "rules": [
                    {"level": "None", "verbs": ["get", "list", "watch"]},
                    {"level": "Metadata"},
                ],
            }))  # fmt: skip
            self.audit_log = self.workdir / "audit.log"
            argv += ["--audit-policy-file", str(policy), "--audit-log-path", str(self.audit_log),
                     "--audit-log-mode", "blocking"]  # fmt: skip
        return argv

    def start_apiserver(self) -> None:
        proc = self._start("kube-apiserver", self._apiserver_argv())
        admin = self.tokens["admin"]

        def ready() -> bool:
            resp = httpx.get(f"{self.url}/readyz", verify=ca_context(self.pki.ca), timeout=2,
                             headers={"Authorization": f"Bearer {admin}"})  # fmt: skip
            return resp.status_code == 200

        wait_until("kube-apiserver /readyz", ready, 90, proc)
        self.admin_kubeconfig = self._kubeconfig("admin", admin)
        self.hami_kubeconfig = self._kubeconfig("hami", self.tokens["hami"])
        self.device_plugin_kubeconfig = self._kubeconfig(
            "device-plugin", self.tokens["device-plugin"]
        )

    def restart_apiserver(self) -> None:
        self.procs["kube-apiserver"].stop()
        self.start_apiserver()

    def start_controller_manager(self) -> None:
        kubeconfig = self._kubeconfig(
            "kube-controller-manager", self.tokens["kube-controller-manager"]
        )
        proc = self._start("kube-controller-manager", [
            str(self.bin / "kube-controller-manager"),
            "--kubeconfig", str(kubeconfig),
            "--authentication-kubeconfig", str(kubeconfig),
            "--authorization-kubeconfig", str(kubeconfig),
            "--bind-address", "127.0.0.1", "--secure-port", str(free_port()),
            "--leader-elect=false",
            "--service-account-private-key-file", str(self.sa.key),
            "--root-ca-file", str(self.pki.ca),
            "--service-cluster-ip-range", SERVICE_CIDR,
            # Nodes without kubelet (the scheduler slice) send no heartbeats; the lifecycle
            # controller would taint them unreachable after 40 s.
            "--controllers", "*,-node-lifecycle-controller",
            "--use-service-account-credentials=true",
            "--v", "1",
        ])  # fmt: skip
        # Ready once it has created the default ServiceAccount of the default namespace.
        wait_until(
            "kube-controller-manager (default ServiceAccount)",
            lambda: self.api.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
            .status_code == 200,
            60, proc,
        )  # fmt: skip

    def start_hami(self, name: str = "hami-scheduler", *extra: str, port: int = 0) -> Proc:
        """Start ``hami scheduler`` (on ``port``, or a free one that becomes kube-scheduler's
        extender and the webhook's URL)."""
        port = port or free_port()
        if name == "hami-scheduler":
            self.hami_port = port
            self.hami_url = f"https://127.0.0.1:{port}"
        url = f"https://127.0.0.1:{port}"
        proc = self._start(name, [
            sys.executable, "-c", "from hami.cli import main; main()", "scheduler",
            "--kubeconfig", str(self.hami_kubeconfig),
            "--http-bind", f"127.0.0.1:{port}",
            "--cert-file", str(self.hami_cert.cert), "--key-file", str(self.hami_cert.key),
            "--metrics-bind-address", f"127.0.0.1:{free_port()}",
            "--scheduler-name", HAMI_SCHEDULER,
            *VENDOR_FLAGS,
            *extra,
        ], env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
        wait_until(
            f"{name} /readyz",
            lambda: httpx.get(f"{url}/readyz", verify=ca_context(self.pki.ca), timeout=2)
            .status_code == 200,
            60, proc,
        )  # fmt: skip
        return proc

    def restart_hami(self, *, kill: bool = True) -> Proc:
        """SIGKILL (or SIGTERM) ``hami scheduler`` and start it again on the same port."""
        proc = self.procs["hami-scheduler"]
        proc.kill() if kill else proc.stop()
        return self.start_hami(port=self.hami_port)

    def register_webhook(self) -> None:
        import base64

        body = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "hami-webhook"},
            "webhooks": [{
                "name": "vgpu.hami.io",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Ignore",
                "timeoutSeconds": 10,
                "clientConfig": {
                    "url": f"{self.hami_url}/webhook",
                    "caBundle": base64.b64encode(self.pki.ca_pem).decode(),
                },
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                           "resources": ["pods"], "scope": "*"}],
                "objectSelector": {"matchExpressions": [
                    {"key": "hami.io/webhook", "operator": "NotIn", "values": ["ignore"]}]},
            }],
        }  # fmt: skip
        self.api.apply("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", body)

    def scheduler_config(self) -> dict[str, Any]:
        """The product's own ``hami scheduler-config`` output (so the real kube-scheduler's strict
        decoder checks it), plus this harness's client connection and the default profile."""
        out = subprocess.run(
            [sys.executable, "-c", "from hami.cli import main; main()", "scheduler-config",
             "--url", self.hami_url, "--ca-file", str(self.pki.ca), "--no-leader-elect",
             *VENDOR_FLAGS],
            capture_output=True, text=True, check=False, cwd=ROOT,
        )  # fmt: skip
        if out.returncode != 0:
            raise ClusterError(f"hami scheduler-config failed: {out.stderr[-2000:]}")
        config: dict[str, Any] = yaml.safe_load(out.stdout)
        kubeconfig = self._kubeconfig("kube-scheduler", self.tokens["kube-scheduler"])
        config["clientConnection"] = {"kubeconfig": str(kubeconfig), "qps": 100, "burst": 200}
        profiles = config.setdefault("profiles", [])
        names = [p.get("schedulerName") for p in profiles]
        if HAMI_SCHEDULER not in names:
            raise ClusterError(f"hami scheduler-config has no {HAMI_SCHEDULER} profile: {names}")
        if "default-scheduler" not in names:
            profiles.insert(0, {"schedulerName": "default-scheduler"})
        return config

    def start_kube_scheduler(self) -> None:
        config = self._write("kube-scheduler.yaml", yaml.safe_dump(self.scheduler_config()))
        port = free_port()
        proc = self._start("kube-scheduler", [
            str(self.bin / "kube-scheduler"), "--config", str(config),
            "--bind-address", "127.0.0.1", "--secure-port", str(port), "--v", "2",
        ])  # fmt: skip
        wait_until(
            "kube-scheduler /healthz",
            lambda: httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False, timeout=2)
            .status_code == 200,
            60, proc,
        )  # fmt: skip

    @property
    def api(self) -> Api:
        if self._api is None:
            self._api = Api(self.url, self.tokens["admin"], self.pki.ca)
        return self._api

    def start(self, *, scheduler: bool = True) -> ControlPlane:
        import atexit

        atexit.register(self.stop)  # children run in their own sessions: never leave them
        self._pki()
        self.start_etcd()
        self.start_apiserver()
        # Age the cluster: compact etcd past the bootstrap writes and restart the apiserver so
        # its watch cache starts at today's revision. Resource version 1 is then expired for
        # watches and lists alike, as on any cluster that has run longer than the apiserver's
        # 5-minute compaction interval (a fresh watch cache would still serve it).
        self.etcd_compact()
        self.restart_apiserver()
        self.start_controller_manager()
        if scheduler:
            self.start_hami()
            self.register_webhook()
            self.start_kube_scheduler()
        return self

    # -- helpers -----------------------------------------------------------------------------

    def etcd_compact(self) -> int:
        """Compact etcd up to its current revision (every older resourceVersion expires)."""
        status = httpx.post(f"{self.etcd_url}/v3/kv/range", json={"key": "AA=="}, timeout=5).json()
        rev = int(status["header"]["revision"])
        httpx.post(f"{self.etcd_url}/v3/kv/compaction", json={"revision": rev, "physical": True},
                   timeout=30).raise_for_status()  # fmt: skip
        return rev

    def tails(self, lines: int = 40) -> str:
        out = []
        for name, proc in self.procs.items():
            out.append(f"----- {name} ({proc.log}) -----\n{proc.tail(lines)}")
        return "\n".join(out)

    def stop(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None
        for name in reversed(list(self.procs)):
            self.procs[name].stop()
        if self._etcd_dir is not None:
            shutil.rmtree(self._etcd_dir, ignore_errors=True)

    def cleanup(self) -> None:
        if os.environ.get("HAMI_CLUSTER_KEEP"):
            return
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def control_plane(**kw: Any) -> Iterator[ControlPlane]:
    cp = ControlPlane(**kw)
    try:
        cp.start()
        yield cp
    except BaseException:
        sys.stderr.write(cp.tails(60) + "\n")
        raise
    finally:
        cp.stop()
        cp.cleanup()
