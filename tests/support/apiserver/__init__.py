"""A kube-apiserver stand-in for tests: in-memory, real HTTP, real Kubernetes semantics.

Entry points: :class:`ApiServerThread` (any test; also the ``apiserver`` fixture in
``tests/conftest.py``) and :class:`ApiServer` (inside a running loop). Behaviour pinned by
``tests/support/test_apiserver_*.py``; each module of this package owns one concern (store,
selectors, patch, watch, faults, http, discovery).

Where the stand-in knowingly differs from kube-apiserver (tests must not rely on these):

* One history window for all resources together (``history=N`` events), not one per resource.
* ``continue`` tokens read the current state after the last key instead of an etcd snapshot
  (the list resourceVersion stays the first page's); a token older than the window is 410.
* Deletion is immediate unless finalizers are set, also for bound pods (no kubelet); deleting a
  namespace deletes its contents at once (no lingering Terminating phase).
* No managedFields, no server-side apply (415), no ``dryRun`` (400), no admission webhooks,
  no RBAC (an optional bearer token only), JSON only (no protobuf/YAML bodies: 415).
* Validation is limited to names, pod containers and pod spec immutability; strategic merge
  patch picks merge keys by field name (see ``patch.py``).
* Watches: an object leaving a selector is sent as DELETED and one entering it as ADDED (as
  the real watch cache); BOOKMARKs come every ``bookmark_interval`` seconds (default 1) and at
  the ``timeoutSeconds`` end, but only when the resource has moved past what the watcher was
  last sent (the real cache sends a quiet watcher none; its resourceVersion is per resource).
* ``restart(keep_store=False)`` keeps resourceVersions increasing and cuts the history, so
  clients holding older versions get 410 and relist.
"""

from .errors import ApiError
from .server import ApiServer, ApiServerThread, StoreAccess

__all__ = ["ApiError", "ApiServer", "ApiServerThread", "StoreAccess"]
