"""A kube-apiserver stand-in for tests: in-memory, real HTTP, real Kubernetes semantics.

See ``server.py`` for the entry points (:class:`ApiServer`, :class:`ApiServerThread`) and the
package modules for each behaviour (store, selectors, patch, watch, faults).
"""

from .errors import ApiError
from .server import ApiServer, ApiServerThread, StoreAccess

__all__ = ["ApiError", "ApiServer", "ApiServerThread", "StoreAccess"]
