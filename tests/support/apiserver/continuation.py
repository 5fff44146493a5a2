"""LIST continue tokens of the stand-in, in the real server's format (base64 of a small JSON).

A token names the list's resourceVersion and the key after which the next page starts; one older
than the store's compacted revision is refused with 410 Expired, as etcd-backed lists are.
"""

from __future__ import annotations

import base64
import json

from . import errors

_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue "
    "token in this response to retrieve the remainder of the results. Continuing with "
    "the provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may "
    "show up in the list."
)


def encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start + "\x00"})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token: str, compacted: int) -> tuple[int, str]:
    """(list resourceVersion, start key) of ``token``; 400 if unreadable, 410 if too old."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        rv, start = int(raw["rv"]), str(raw["start"])
    except (ValueError, KeyError, TypeError) as exc:
        raise errors.bad_request(f"continue key is not valid: {exc}") from exc
    if rv < compacted:
        raise errors.expired(_TOO_OLD)
    return rv, start.rstrip("\x00")
