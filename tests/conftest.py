"""Shared pytest fixtures for all hami tests (helpers append their fixtures here additively)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.apiserver import ApiServerThread


@pytest.fixture
def apiserver() -> Iterator[ApiServerThread]:
    """A fresh kube-apiserver stand-in (plain HTTP, random port) for one test.

    Use ``api.url``, ``api.kubeconfig_path`` (for lightkube ``KubeConfig.from_file``),
    ``api.store`` (thread-safe create/get/list/update/patch/delete/bind on plain dicts) and the
    fault hooks ``fail_next``/``delay``/``drop_watches``/``restart``.
    """
    with ApiServerThread() as api:
        yield api


# Conformance-suite fixtures (stand-in, or a real cluster via HAMI_CONFORMANCE_KUBECONFIG):
# kube (Target with a fresh namespace), kube_http (httpx), kube_lk (lightkube AsyncClient),
# kube_standin (skips on a real cluster), kube_standin_server.
from tests.support.apiserver.target import (  # noqa: E402, F401
    kube,
    kube_http,
    kube_lk,
    kube_standin,
    kube_standin_server,
)
