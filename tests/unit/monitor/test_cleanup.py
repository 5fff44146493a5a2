"""Which cache directories the monitor removes."""

from __future__ import annotations

from hami.monitor.cleanup import DirState, plan

GRACE = 300.0


def test_dirs_of_live_pods_stay() -> None:
    p = plan([DirState("u1_main", "u1", 0.0)], {"u1"}, {}, now=10_000, grace=GRACE, synced=True)
    assert p.delete == () and p.missing_since == {}


def test_gone_pod_waits_the_grace_then_goes() -> None:
    dirs = [DirState("u1_main", "u1", 0.0)]
    p1 = plan(dirs, set(), {}, now=1000, grace=GRACE, synced=True)
    assert p1.delete == () and p1.missing_since == {"u1_main": 1000}
    p2 = plan(dirs, set(), p1.missing_since, now=1299, grace=GRACE, synced=True)
    assert p2.delete == ()
    p3 = plan(dirs, set(), p2.missing_since, now=1300, grace=GRACE, synced=True)
    assert p3.delete == ("u1_main",) and p3.missing_since == {}


def test_recently_modified_dir_survives() -> None:
    dirs = [DirState("u1_main", "u1", 1200.0)]
    p = plan(dirs, set(), {"u1_main": 0.0}, now=1300, grace=GRACE, synced=True)
    assert p.delete == () and p.missing_since == {"u1_main": 0.0}


def test_pod_back_resets_the_clock() -> None:
    dirs = [DirState("u1_main", "u1", 0.0)]
    p = plan(dirs, {"u1"}, {"u1_main": 0.0}, now=1000, grace=GRACE, synced=True)
    assert p.missing_since == {}


def test_nothing_before_the_cache_synced() -> None:
    dirs = [DirState("u1_main", "u1", 0.0)]
    p = plan(dirs, set(), {"u1_main": 0.0}, now=10_000, grace=GRACE, synced=False)
    assert p.delete == () and p.missing_since == {"u1_main": 0.0}


def test_state_forgets_vanished_dirs() -> None:
    p = plan([], set(), {"u1_main": 0.0}, now=10, grace=GRACE, synced=True)
    assert p.missing_since == {}
