"""The event recorder: one background sender, HAMi's reasons, identical queued events folded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hami.k8s import errors
from hami.k8s.fake import FakeKube
from hami.scheduler import events

_POD = {"metadata": {"namespace": "ns", "name": "p", "uid": "u1"}}
_OTHER = {"metadata": {"namespace": "ns", "name": "q", "uid": "u2"}}


def _clock() -> datetime:
    return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([(_POD, events.FILTERING_SUCCEED, "m")], [("p", events.FILTERING_SUCCEED, 1)]),
        (
            [(_POD, events.FILTERING_FAILED, "no fit")] * 3,
            [("p", events.FILTERING_FAILED, 3)],
        ),
        (
            [(_POD, events.FILTERING_FAILED, "a"), (_POD, events.FILTERING_FAILED, "b"),
             (_OTHER, events.FILTERING_FAILED, "a"), (_POD, events.BINDING_SUCCEED, "a")],
            [("p", events.FILTERING_FAILED, 1), ("p", events.FILTERING_FAILED, 1),
             ("q", events.FILTERING_FAILED, 1), ("p", events.BINDING_SUCCEED, 1)],
        ),
    ],
    ids=["one", "repeats-folded", "different-not-folded"],
)  # fmt: skip
async def test_recorder_sends_in_order_and_folds_repeats(
    records: list[tuple[dict[str, object], str, str]], expected: list[tuple[str, str, int]]
) -> None:
    kube = FakeKube()
    recorder = events.EventRecorder(kube, host="h", clock=_clock)
    for pod, reason, message in records:
        recorder.record(pod, "Warning", reason, message)
    await recorder.flush()
    sent = kube.objects("events")
    got = sorted((e["involvedObject"]["name"], e["reason"], e["count"]) for e in sent)
    assert got == sorted(expected)
    assert recorder.sent == len(expected) and recorder.failed == 0
    assert all(e["source"] == {"component": events.COMPONENT, "host": "h"} for e in sent)


async def test_recorder_keeps_sending_after_a_failure() -> None:
    kube = FakeKube()
    kube.fail_next("create_event", errors.ServerError("boom"))
    recorder = events.EventRecorder(kube, clock=_clock)
    recorder.record(_POD, "Normal", events.BINDING_SUCCEED, "x")
    recorder.record(_OTHER, "Normal", events.BINDING_SUCCEED, "x")
    await recorder.flush()
    assert recorder.failed == 1 and recorder.sent == 1
    assert [e["involvedObject"]["name"] for e in kube.objects("events")] == ["q"]


class _Clock:
    def __init__(self) -> None:
        self.now = _clock()

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def test_repeats_after_sending_patch_the_sent_event() -> None:
    kube, clock = FakeKube(), _Clock()
    recorder = events.EventRecorder(kube, clock=clock)
    for _ in range(4):  # each repeat after the previous one was sent
        recorder.record(_POD, "Warning", events.FILTERING_FAILED, "no fit")
        await recorder.flush()
        clock.tick(2)
    sent = kube.objects("events")
    assert [(e["reason"], e["count"]) for e in sent] == [(events.FILTERING_FAILED, 4)]
    assert sent[0]["firstTimestamp"] == "2026-01-02T03:04:05Z"
    assert sent[0]["lastTimestamp"] == "2026-01-02T03:04:11Z"
    assert (recorder.sent, recorder.patched) == (1, 3)
    assert kube.calls.count("create_event") == 1


async def test_folded_and_patched_counts_add_up() -> None:
    kube = FakeKube()
    recorder = events.EventRecorder(kube, clock=_clock)
    recorder.record(_POD, "Warning", events.FILTERING_FAILED, "no fit")
    await recorder.flush()
    for _ in range(3):  # queued together: folded, then one patch
        recorder.record(_POD, "Warning", events.FILTERING_FAILED, "no fit")
    await recorder.flush()
    assert [e["count"] for e in kube.objects("events")] == [4]
    assert kube.calls.count("patch_event") == 1


async def test_expired_event_is_created_again() -> None:
    kube = FakeKube()
    recorder = events.EventRecorder(kube, clock=_clock)
    recorder.record(_POD, "Warning", events.FILTERING_FAILED, "no fit")
    await recorder.flush()
    gone = kube.objects("events")[0]["metadata"]
    kube.delete("events", gone["namespace"], gone["name"])  # the apiserver's event TTL
    recorder.record(_POD, "Warning", events.FILTERING_FAILED, "no fit")
    await recorder.flush()
    again = kube.objects("events")
    assert [e["count"] for e in again] == [1] and again[0]["metadata"]["name"] != gone["name"]
    recorder.record(_POD, "Warning", events.FILTERING_FAILED, "no fit")
    await recorder.flush()
    assert [e["count"] for e in kube.objects("events")] == [2]  # the new one is counted on
    assert recorder.failed == 0


async def test_repeat_after_the_window_or_other_message_is_a_new_event() -> None:
    kube, clock = FakeKube(), _Clock()
    recorder = events.EventRecorder(kube, clock=clock, window_s=60)
    recorder.record(_POD, "Warning", events.FILTERING_FAILED, "no fit")
    await recorder.flush()
    recorder.record(_POD, "Warning", events.FILTERING_FAILED, "other")
    await recorder.flush()
    clock.tick(61)
    recorder.record(_POD, "Warning", events.FILTERING_FAILED, "no fit")
    await recorder.flush()
    got = sorted((e["message"], e["count"]) for e in kube.objects("events"))
    assert got == [("no fit", 1), ("no fit", 1), ("other", 1)]


async def test_sent_cache_is_bounded() -> None:
    kube = FakeKube()
    recorder = events.EventRecorder(kube, clock=_clock, sent_cache=2)
    for msg in ("a", "b", "c", "a"):  # "a" fell out of the cache: a new Event
        recorder.record(_POD, "Warning", events.FILTERING_FAILED, msg)
        await recorder.flush()
    assert sorted(e["message"] for e in kube.objects("events")) == ["a", "a", "b", "c"]
    assert len(recorder._sent) == 2


async def test_failed_patch_other_than_not_found_is_logged_not_retried_as_create() -> None:
    kube = FakeKube()
    recorder = events.EventRecorder(kube, clock=_clock)
    recorder.record(_POD, "Warning", events.FILTERING_FAILED, "no fit")
    await recorder.flush()
    kube.fail_next("patch_event", errors.ServerError("boom"))
    recorder.record(_POD, "Warning", events.FILTERING_FAILED, "no fit")
    await recorder.flush()
    assert recorder.failed == 1 and len(kube.objects("events")) == 1
