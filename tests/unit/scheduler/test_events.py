"""The event recorder: one background sender, HAMi's reasons, identical queued events folded."""

from __future__ import annotations

from datetime import UTC, datetime

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
