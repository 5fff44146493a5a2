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
