"""A burst filtered before any bind: every pod gets a node no other pod is about to lock, however
many nodes are busy, while free nodes fit (issue 11: 16 busy nodes used to end the look-ahead)."""

from __future__ import annotations

from hami.k8s.fake import FakeKube
from tests.component.scheduler.conftest import serve
from tests.component.scheduler.objects import container, filter_args, make_node, make_pod


async def test_burst_spreads_over_free_nodes_before_reusing_a_busy_one() -> None:
    kube = FakeKube()
    names = [f"node-{i:02d}" for i in range(30)]
    for name in names:
        kube.add("nodes", make_node(name, gpus=2, mem=16384))
    async with serve(kube) as h:
        chosen: list[str] = []
        for i in range(len(names) + 1):  # one more pod than nodes: it must reuse a busy node
            pod = h.kube.add("pods", make_pod(f"p{i}", containers=[container(gpumem=1000)]))
            body = (await h.http.post("/filter", json=filter_args(pod, names))).json()
            chosen += body["NodeNames"]
        assert sorted(chosen[:-1]) == names  # no busy node while a free one fitted
        assert chosen[-1] in names  # all busy: the best busy node, not a failure
