"""AdmissionReview v1 payloads for the mutating webhook, as TypedDicts.

Only the members the webhook reads or writes are typed; everything else passes through untouched.
"""

from __future__ import annotations

from typing import Any, Final, Literal, NotRequired, TypedDict

API_VERSION: Final = "admission.k8s.io/v1"
KIND: Final = "AdmissionReview"
PATCH_TYPE_JSON: Final = "JSONPatch"


class AdmissionRequest(TypedDict):
    """``request`` of an AdmissionReview."""

    uid: str
    kind: NotRequired[dict[str, str]]
    resource: NotRequired[dict[str, str]]
    namespace: NotRequired[str]
    name: NotRequired[str]
    operation: NotRequired[str]
    object: NotRequired[dict[str, Any] | None]


class Status(TypedDict, total=False):
    """A ``metav1.Status`` subset used for denials and errors."""

    code: int
    message: str
    reason: str


class AdmissionResponse(TypedDict):
    """``response`` of an AdmissionReview."""

    uid: str
    allowed: bool
    status: NotRequired[Status]
    patch: NotRequired[str]
    patchType: NotRequired[Literal["JSONPatch"]]


class AdmissionReview(TypedDict):
    """The envelope, in and out."""

    apiVersion: str
    kind: str
    request: NotRequired[AdmissionRequest]
    response: NotRequired[AdmissionResponse]


class JsonPatchOp(TypedDict):
    """One RFC 6902 operation."""

    op: Literal["add", "remove", "replace"]
    path: str
    value: NotRequired[Any]
