"""Interception paths.

cuGetProcAddress version/flag routing, and dlsym(RTLD_NEXT) stacking with a second shim.
"""

from __future__ import annotations

from tests.libvgpu.kit import LIBRARY, SHIM, Kit, MiB

KEYS = ("symbol", "version", "flags", "rc", "status", "null", "reached", "call_rc", "abi32")


def _rows(run_events: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [tuple(e.get(k) for k in KEYS) for e in run_events if str(e["event"]).startswith("gpa")]


def test_proc_address_routing_matches_the_driver(kit: Kit) -> None:
    bare = kit.run("procaddr", env=kit.env(preload=False))
    hooked = kit.run("procaddr", env=kit.env(cap_mb=64))
    assert bare.returncode == 0, bare.describe()
    assert hooked.returncode == 0, hooked.describe()
    expected, got = _rows(bare.events), _rows(hooked.events)
    assert len(expected) > 150
    diff = [(e, g) for e, g in zip(expected, got, strict=True) if e != g]
    assert diff == [], diff[:10]


def test_shim_above_libvgpu_sees_libvgpu_as_next(kit: Kit) -> None:
    env = kit.env(cap_mb=32, preload_order=[SHIM, LIBRARY])
    run = kit.run("stackprog", 4 * MiB, env=env)
    assert run.returncode == 0, run.describe()
    assert run.one("alloc") == {"event": "alloc", "granted": 8, "rc": 2}
    shim = run.one("shim")
    assert shim["calls"] == 9
    assert shim["next_lib"].endswith("libvgpu.so"), shim
    assert (shim["repeat_same"], shim["nonnull"]) == (1, 1)


def test_shim_below_libvgpu_sees_the_driver_as_next(kit: Kit) -> None:
    alone = kit.run("stackprog", 4 * MiB, env=kit.env(preload_order=[SHIM]))
    run = kit.run("stackprog", 4 * MiB, env=kit.env(cap_mb=32, preload_order=[LIBRARY, SHIM]))
    assert run.returncode == 0, run.describe()
    assert run.one("alloc")["granted"] == 8  # capped: libvgpu is first
    # Whatever the shim's RTLD_NEXT lookups found, they found what they find without libvgpu.
    if run.of("shim") and run.one("shim")["calls"]:
        shim, ref = run.one("shim"), alone.one("shim")
        assert shim["next_lib"] == ref["next_lib"]
        assert (shim["repeat_same"], shim["nonnull"]) == (1, 1)
