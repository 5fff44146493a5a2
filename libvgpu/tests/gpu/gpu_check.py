"""Measure libvgpu on a real GPU with PyTorch and write one JSON file of figures (see run.sh).

Each measurement runs in a fresh child process (this file with ``--child``) so the preload and
the caps apply from the first CUDA call, exactly as in a container.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GiB = 1 << 30
CAP_MIB = 4096
ALLOC_CONFS = {
    "default": "",
    "expandable_segments": "expandable_segments:True",
    "cudaMallocAsync": "backend:cudaMallocAsync",
}
LIMITS = (25, 50, 75)


# ---- children (run inside the measured process) ----


def child_memory() -> dict[str, Any]:
    import torch

    free, total = torch.cuda.mem_get_info()
    out: dict[str, Any] = {"mem_get_info": {"free": free, "total": total}}
    try:
        x = torch.empty(3 * GiB, dtype=torch.uint8, device="cuda")
        x.fill_(1)
        torch.cuda.synchronize()
        out["fits_3g"] = True
        del x
    except Exception as exc:  # any failure is a finding
        out["fits_3g"] = False
        out["error_3g"] = f"{type(exc).__name__}: {exc}"[:300]
    torch.cuda.empty_cache()
    try:
        y = torch.empty(5 * GiB, dtype=torch.uint8, device="cuda")
        y.fill_(1)
        torch.cuda.synchronize()
        out["oom_5g"] = False
        del y
    except torch.cuda.OutOfMemoryError as exc:
        out["oom_5g"] = True
        out["error_5g"] = str(exc)[:300]
    except Exception as exc:
        out["oom_5g"] = False
        out["error_5g"] = f"{type(exc).__name__}: {exc}"[:300]
    return out


def _rate(step: Any, seconds: float, warmup: float) -> float:
    import torch

    end_warm = time.monotonic() + warmup
    while time.monotonic() < end_warm:
        step()
    torch.cuda.synchronize()
    n, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        for _ in range(10):
            step()
        torch.cuda.synchronize()
        n += 10
    return n / (time.monotonic() - t0)


def child_matmul(seconds: float) -> dict[str, Any]:
    import torch

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)

    def step() -> None:
        torch.matmul(a, b)

    return {"it_per_s": _rate(step, seconds, warmup=3.0)}


def child_train(seconds: float) -> dict[str, Any]:
    import torch

    model = torch.nn.Sequential(
        *[m for _ in range(4) for m in (torch.nn.Linear(1024, 1024), torch.nn.ReLU())]
    ).cuda()
    opt = torch.optim.Adam(model.parameters())
    x = torch.randn(64, 1024, device="cuda")

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        model(x).square().mean().backward()
        opt.step()

    return {"steps_per_s": _rate(step, seconds, warmup=2.0)}


# ---- parent ----


def run_child(mode: str, env: dict[str, str], seconds: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, "--seconds", str(seconds)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    result["returncode"] = proc.returncode
    if proc.returncode != 0 or not lines:
        result["stderr"] = proc.stderr[-2000:]
    result["libvgpu_log"] = [ln for ln in proc.stderr.splitlines() if "hami-vgpu" in ln][-5:]
    return result


def base_env(tmp: Path, name: str, lib: Path | None, **caps: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUDA_DEVICE_")}
    env.pop("LD_PRELOAD", None)
    env.pop("PYTORCH_CUDA_ALLOC_CONF", None)
    if lib is not None:
        env["LD_PRELOAD"] = str(lib)
        env["CUDA_DEVICE_MEMORY_SHARED_CACHE"] = str(tmp / f"{name}.cache")
        env["LIBCUDA_LOG_LEVEL"] = "2"
    env.update(caps)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lib", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        fn = {"memory": lambda: child_memory(), "matmul": lambda: child_matmul(args.seconds)}
        fn["train"] = lambda: child_train(args.seconds)
        print(json.dumps(fn[args.child]()), flush=True)
        return 0
    assert args.lib and args.out, "--lib and --out are required"
    lib = args.lib.resolve()
    report: dict[str, Any] = {"library": str(lib), "cap_mib": CAP_MIB, "memory": {}, "compute": {}}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for name, conf in ALLOC_CONFS.items():
            caps = {"CUDA_DEVICE_MEMORY_LIMIT_0": f"{CAP_MIB}m"}
            if conf:
                caps["PYTORCH_CUDA_ALLOC_CONF"] = conf
            res = run_child("memory", base_env(tmp, f"mem-{name}", lib, **caps), args.seconds)
            total = res.get("mem_get_info", {}).get("total")
            res["total_is_cap"] = total == CAP_MIB << 20
            res["pass"] = bool(res["total_is_cap"] and res.get("fits_3g") and res.get("oom_5g"))
            report["memory"][name] = res
        bare = run_child("matmul", base_env(tmp, "mm-bare", None), args.seconds)
        report["compute"]["no_hook"] = bare
        hooked = run_child("matmul", base_env(tmp, "mm-hook", lib), args.seconds)
        report["compute"]["hook_uncapped"] = hooked
        base_rate = float(bare.get("it_per_s") or 0.0)
        for limit in LIMITS:
            caps = {"CUDA_DEVICE_SM_LIMIT": str(limit), "GPU_CORE_UTILIZATION_POLICY": "force"}
            res = run_child("matmul", base_env(tmp, f"mm-{limit}", lib, **caps), args.seconds)
            rate = float(res.get("it_per_s") or 0.0)
            res["share_pct"] = round(100.0 * rate / base_rate, 1) if base_rate else None
            res["error_pts"] = round(res["share_pct"] - limit, 1) if base_rate else None
            report["compute"][f"limit_{limit}"] = res
        t_bare = run_child("train", base_env(tmp, "train-bare", None), args.seconds)
        t_hook = run_child("train", base_env(tmp, "train-hook", lib), args.seconds)
        b, h = float(t_bare.get("steps_per_s") or 0), float(t_hook.get("steps_per_s") or 0)
        report["overhead"] = {
            "no_hook": t_bare,
            "hook_uncapped": t_hook,
            "slowdown_pct": round(100.0 * (b - h) / b, 2) if b else None,
        }
    report["wall_s"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
