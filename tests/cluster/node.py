"""A real GPU node for the test cluster: containerd + runc (Debian), kubelet (built from
Kubernetes' modules) and ``hami device-plugin`` on the libvgpu test kit's fake NVML.

Facts of these VMs that shape the configuration: no CAP_SYS_RESOURCE for containers
(``restrict_oom_score_adj``), cgroup v1 (``failCgroupV1: false``, ``cgroupsPerQOS: false``,
cgroupfs driver), no pod network (a loopback-only CNI conflist; pods use hostNetwork), a
non-loopback node IP, and no registry (images are built here as OCI archives and imported).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from .controlplane import ROOT, ClusterError, ControlPlane, Proc, free_port, wait_until

LIBVGPU = ROOT / "libvgpu" / "build"
FAKE = LIBVGPU / "fake"
PAUSE_IMAGE = "hami.test/pause:1"
CUDA_IMAGE = "hami.test/cuda-test:1"
FAKE_DIR_IN_IMAGE = "/usr/lib/hami-fake"
# kubelet serves device-plugin registration at this fixed path whatever its --root-dir: one
# kubelet per machine.
KUBELET_PLUGIN_DIR = Path("/var/lib/kubelet/device-plugins")

PAUSE_C = r"""
#include <signal.h>
#include <unistd.h>
static void bye(int s) { (void)s; _exit(0); }
int main(void) {
    signal(SIGTERM, bye);
    signal(SIGINT, bye);
    for (;;) pause();
}
"""


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(files: dict[str, Path | bytes], dirs: tuple[str, ...] = ()) -> bytes:
    """An uncompressed tar layer: ``files`` maps image paths to host files or contents."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made: set[str] = set()

        def mkdirs(path: str) -> None:
            parts = path.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in made:
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                    made.add(d)

        for d in dirs:
            mkdirs(d.rstrip("/") + "/x")
        for dest, src in sorted(files.items()):
            mkdirs(dest)
            data = src.read_bytes() if isinstance(src, Path) else src
            mode = (src.stat().st_mode & 0o777) if isinstance(src, Path) else 0o644
            info = tarfile.TarInfo(dest.lstrip("/"))
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def oci_archive(path: Path, name: str, layer: bytes, config: dict[str, Any]) -> Path:
    """Write a one-layer OCI image layout archive that ``ctr images import`` accepts."""
    blobs: dict[str, bytes] = {}
    layer_digest = _sha(layer)
    blobs[layer_digest] = layer
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }
    config_bytes = json.dumps(image_config).encode()
    blobs[_sha(config_bytes)] = config_bytes
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _sha(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": len(layer),
            }
        ],
    }
    manifest_bytes = json.dumps(manifest).encode()
    blobs[_sha(manifest_bytes)] = manifest_bytes
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _sha(manifest_bytes),
                "size": len(manifest_bytes),
                "annotations": {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1],
                },
            }
        ],
    }
    with tarfile.open(path, "w") as tar:

        def add(arc: str, data: bytes) -> None:
            info = tarfile.TarInfo(arc)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", json.dumps(index).encode())
        for digest, data in blobs.items():
            add(f"blobs/sha256/{digest.split(':', 1)[1]}", data)
    return path


def _libs_of(*binaries: Path) -> dict[str, Path]:
    """Host C runtime libraries the binaries need (libc, the loader), by their in-image path."""
    out: dict[str, Path] = {}
    for binary in binaries:
        text = subprocess.run(
            ["ldd", str(binary)], capture_output=True, text=True, check=False,
            env={**os.environ, "LD_LIBRARY_PATH": str(FAKE)},
        ).stdout  # fmt: skip
        for line in text.splitlines():
            parts = line.split()
            path = next((p for p in parts if p.startswith("/")), None)
            if path is None or str(FAKE) in path or str(LIBVGPU) in path:
                continue
            out[path] = Path(path).resolve()
    return out


def build_images(workdir: Path) -> list[Path]:
    """The sandbox image and the CUDA test image (fake driver + memcap), as OCI archives."""
    for need in (LIBVGPU / "libvgpu.so", FAKE / "libcuda.so.1", LIBVGPU / "tests" / "memcap"):
        if not need.exists():
            raise ClusterError(f"{need} is missing: build libvgpu first (make -C libvgpu)")
    src = workdir / "pause.c"
    src.write_text(PAUSE_C)
    pause = workdir / "pause"
    cc = subprocess.run(["gcc", "-static", "-O2", "-o", str(pause), str(src)],
                        capture_output=True, text=True, check=False)  # fmt: skip
    if cc.returncode != 0:
        raise ClusterError(f"cannot build the pause binary: {cc.stderr}")
    pause_tar = oci_archive(
        workdir / "pause.tar", PAUSE_IMAGE, _layer({"/pause": pause}),
        {"Entrypoint": ["/pause"]},
    )  # fmt: skip
    memcap = LIBVGPU / "tests" / "memcap"
    fakes = {f"{FAKE_DIR_IN_IMAGE}/{p.name}": p.resolve() for p in FAKE.glob("lib*.so*")}
    files: dict[str, Path | bytes] = {"/bin/memcap": memcap, "/pause": pause, **fakes}
    files.update(_libs_of(memcap, LIBVGPU / "libvgpu.so", *FAKE.glob("lib*.so.1")))
    cuda_tar = oci_archive(
        workdir / "cuda-test.tar", CUDA_IMAGE,
        _layer(files, dirs=("/tmp", "/etc", "/usr/local/vgpu")),
        {"Entrypoint": ["/bin/memcap"], "Env": [f"LD_LIBRARY_PATH={FAKE_DIR_IN_IMAGE}"]},
    )  # fmt: skip
    return [pause_tar, cuda_tar]


class GpuNode:
    """containerd + kubelet + hami device-plugin for node ``name`` of ``cp``."""

    def __init__(self, cp: ControlPlane, name: str, *, gpus: int = 1, mem_mib: int = 16384):
        self.cp = cp
        self.name = name
        self.gpus = gpus
        self.mem_mib = mem_mib
        # Short: unix socket paths must stay under 108 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="hk-", dir="/tmp"))
        self.procs: dict[str, Proc] = {}
        self.kubelet_root = self.dir / "kubelet"
        self.sock = self.dir / "containerd.sock"

    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        proc = Proc(name, argv, self.cp.logs / f"{self.name}-{name}.log", env)
        self.procs[name] = proc
        self.cp.procs[f"{self.name}/{name}"] = proc
        return proc.start()

    def start_containerd(self) -> None:
        cni = self.dir / "cni"
        cni.mkdir()
        (cni / "10-loopback.conflist").write_text(json.dumps({
            "cniVersion": "0.4.0", "name": "hami-loopback", "plugins": [{"type": "loopback"}],
        }))  # fmt: skip
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = f"""version = 2
root = "{self.dir}/containerd-root"
state = "{self.dir}/containerd-state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.dir}/containerd.ttrpc.sock"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
"""
        path = self.dir / "containerd.toml"
        path.write_text(config)
        exe = shutil.which("containerd")
        if exe is None:
            raise ClusterError("containerd not found: apt-get install containerd runc")
        proc = self._start("containerd", [exe, "--config", str(path)])
        wait_until("containerd socket", self.sock.exists, 30, proc)
        for archive in build_images(self.dir):
            out = subprocess.run(
                ["ctr", "--address", str(self.sock), "-n", "k8s.io", "images", "import",
                 "--no-unpack", str(archive)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode != 0:
                raise ClusterError(f"ctr images import {archive.name}: {out.stderr}")

    def start_kubelet(self) -> None:
        kubeconfig = self.cp.node_kubeconfigs[self.name]
        self.kubelet_root.mkdir(exist_ok=True)
        KUBELET_PLUGIN_DIR.mkdir(parents=True, exist_ok=True)
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,
            "cgroupsPerQOS": False,
            "cgroupDriver": "cgroupfs",
            "enforceNodeAllocatable": [],
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.sock}",
            "address": self.cp.host_ip,
            "port": free_port(),
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": (healthz := free_port()),
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "podLogsDir": str(self.dir / "pod-logs"),
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "0%",
                             "imagefs.available": "0%", "nodefs.inodesFree": "0%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "localStorageCapacityIsolation": False,
            "resolvConf": "",
            "registerNode": True,
            "nodeStatusUpdateFrequency": "2s",
            "syncFrequency": "5s",
            "fileCheckFrequency": "5s",
        }  # fmt: skip
        path = self.dir / "kubelet.yaml"
        path.write_text(yaml.safe_dump(config))
        proc = self._start("kubelet", [
            str(self.cp.bin / "kubelet"), "--config", str(path), "--kubeconfig", str(kubeconfig),
            "--root-dir", str(self.kubelet_root), "--cert-dir", str(self.dir / "kubelet-pki"),
            "--hostname-override", self.name, "--node-ip", self.cp.host_ip, "--v", "2",
        ])  # fmt: skip
        import httpx

        wait_until(
            "kubelet /healthz",
            lambda: httpx.get(f"http://127.0.0.1:{healthz}/healthz", timeout=2).status_code == 200,
            90, proc,
        )  # fmt: skip

        def ready() -> bool:
            node = self.cp.api.get(f"/api/v1/nodes/{self.name}")
            conds = {c["type"]: c["status"] for c in node["status"].get("conditions", [])}
            return conds.get("Ready") == "True"

        wait_until(f"node {self.name} Ready", ready, 90, proc)
        # The node-lifecycle controller (off in this harness) lifts the not-ready taint.
        self.cp.api.patch(f"/api/v1/nodes/{self.name}", {"spec": {"taints": None}})

    def restart_kubelet(self) -> None:
        """Stop kubelet (SIGTERM) and start it again with the same configuration."""
        self.procs["kubelet"].stop()
        self.start_kubelet()

    def start_device_plugin(self) -> Proc:
        hook = self.dir / "vgpu-hook"
        env = {
            **os.environ,
            "LD_LIBRARY_PATH": str(FAKE),
            "FAKE_CUDA_DEVICES": str(self.gpus),
            "FAKE_CUDA_MEM_MB": str(self.mem_mib),
            "FAKE_CUDA_NAME": "Tesla T4",
            "PYTHONUNBUFFERED": "1",
        }
        proc = self._start("device-plugin", [
            sys.executable, "-c", "from hami.cli import main; main()", "device-plugin",
            "--node-name", self.name, "--kubeconfig", str(self.cp.device_plugin_kubeconfig),
            "--plugin-dir", str(KUBELET_PLUGIN_DIR),
            "--hook-path", str(hook), "--install-lib", str(LIBVGPU / "libvgpu.so"),
            "--node-config", str(self.dir / "no-node-config.json"),
            "--device-split-count", "10",
        ], env=env)  # fmt: skip

        def advertised() -> bool:
            node = self.cp.api.get(f"/api/v1/nodes/{self.name}")
            alloc = node["status"].get("allocatable", {})
            anns = node["metadata"].get("annotations") or {}
            return alloc.get("nvidia.com/gpu") not in (None, "0") and (
                "hami.io/node-nvidia-register" in anns
            )

        wait_until(f"{self.name}: GPUs advertised and registered", advertised, 90, proc)
        return proc

    def start(self) -> GpuNode:
        import atexit

        atexit.register(self.stop)  # containers (runc shims) outlive containerd otherwise
        self.start_containerd()
        self.start_kubelet()
        self.start_device_plugin()
        return self

    def stop(self) -> None:
        if not self.dir.exists():
            return
        for name in ("device-plugin", "kubelet"):
            if name in self.procs:
                self.procs[name].stop()
        # Containers (runc shims) outlive kubelet: remove them before containerd stops.
        if self.sock.exists():
            subprocess.run(
                ["ctr", "--address", str(self.sock), "-n", "k8s.io", "tasks", "ls", "-q"],
                capture_output=True, check=False,
            )  # fmt: skip
            listing = subprocess.run(
                ["ctr", "--address", str(self.sock), "-n", "k8s.io", "containers", "ls", "-q"],
                capture_output=True, text=True, check=False,
            ).stdout.split()  # fmt: skip
            for cid in listing:
                subprocess.run(
                    ["ctr", "--address", str(self.sock), "-n", "k8s.io", "tasks", "kill", "-s",
                     "SIGKILL", cid], capture_output=True, check=False,
                )  # fmt: skip
            time.sleep(0.5)
            for cid in listing:
                subprocess.run(
                    ["ctr", "--address", str(self.sock), "-n", "k8s.io", "tasks", "rm", "-f",
                     cid], capture_output=True, check=False,
                )  # fmt: skip
        if "containerd" in self.procs:
            self.procs["containerd"].stop()
        subprocess.run(["umount", "-R", str(self.dir)], capture_output=True, check=False)
        for mount in sorted(_mounts_under(self.dir), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def _mounts_under(root: Path) -> list[str]:
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            target = line.split()[1]
            if target.startswith(str(root)):
                out.append(target)
    return out
