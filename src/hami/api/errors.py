"""The one error type every wire decoder in :mod:`hami.api` raises on malformed input.

Callers at the edges (extender, webhook, device plugin, ``hami simulate``) catch exactly this and
turn it into an HTTP 200 error body, an errored AdmissionReview or an exit code; nothing deeper
than a decoder ever leaks ``IndexError``/``ValueError`` from string slicing.
"""

from __future__ import annotations


class DecodeError(ValueError):
    """A wire value (annotation, quantity, JSON payload) could not be decoded.

    ``field`` names the annotation key or field that was bad; ``value`` is the offending text
    (truncated in the message so huge annotations do not flood logs).
    """

    field: str
    value: str
    reason: str

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = str(value)
        self.reason = reason
        shown = self.value if len(self.value) <= 120 else self.value[:117] + "..."
        super().__init__(f"{field}: {reason} (value {shown!r})")
