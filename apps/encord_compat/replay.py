"""A signed write is an idempotency key: it runs once, and every identical request gets its answer.

Ed25519 signatures are deterministic and the SDK dates them to the second, so the *same* signature
arrives when a script sends the same write twice within a second, when the SDK re-sends a request
whose answer it did not read (urllib3 retries), and when someone replays a captured request. None of
them may run the write again, and the first two must not fail either. So the first request carrying a
(key, signature bytes) pair **claims** it before any view code runs: a ``SignedRequestClaim`` row,
inserted in its own committed transaction, whose unique constraint lets exactly one request win. The
winner runs the view and stores its response (status, content type, body); every identical request
gets that response, waiting (at most ``WAIT_S``) while the winner is still running.

- A response the SDK would retry (5xx, 429, 413) or a request that crashed **releases** the claim, so the
  SDK's retry of a failed request runs afresh, as it would against Encord. Loupe's services are atomic,
  so such a request changed nothing. Every other response (2xx and 4xx) is the answer, kept.
- A process that dies mid-request leaves a claim without a response: its outcome is unknown, so an
  identical request is answered 409 until the claim expires rather than risk running it twice.
- Claims expire when the signature would be refused as stale anyway (``created`` + ``MAX_AGE_S``, plus
  a margin for clock differences between web processes); expired rows are deleted as new claims come.
- Reads (GET) are not claimed: repeating them is harmless and a poll must see fresh data.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import DatabaseError, IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import exceptions, status

from apps.core.models import PublicKey
from apps.encord_compat import signatures
from apps.encord_compat.models import SignedRequestClaim

logger = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CLAIM_MARGIN_S = 60  # covers the time between verifying a signature and claiming it, and clock skew
WAIT_S = 30.0  # how long an identical request waits for the first one's answer (the SDK waits 180 s)
POLL_FIRST_S, POLL_MAX_S = 0.02, 0.5


def _is_released(status_code: int) -> bool:
    """Statuses the SDK retries (its urllib3 ``status_forcelist`` is 413, 429, 500, 502, 503) and every
    server error: the request did nothing, so its retry must run rather than get this answer."""
    return status_code >= 500 or status_code in (413, 429)


@dataclass(frozen=True)
class SignedCredential:
    """``request.auth`` of a verified v2 request: the key and the signature that identify it."""

    key: PublicKey
    signature: bytes
    created: int


@dataclass(frozen=True)
class StoredResponse:
    status: int
    content_type: str | None
    body: bytes

    def as_response(self) -> HttpResponse:
        response = HttpResponse(self.body, status=self.status)
        if self.content_type is None:
            del response["Content-Type"]
        else:
            response["Content-Type"] = self.content_type
        response["Idempotent-Replayed"] = "true"
        return response


class Answered(Exception):
    """An identical signed request already ran: answer with its response (the view does not run)."""

    def __init__(self, stored: StoredResponse):
        super().__init__(f"already answered {stored.status}")
        self.stored = stored


class StillRunning(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = (
        "An identical signed request is still being carried out and has no answer yet. If Loupe restarted "
        "meanwhile its outcome is unknown: check the result, then send the request again (a new signature)."
    )


def signed_request_claim(*, credential: SignedCredential) -> int:
    """Claim the signed write ``credential`` identifies for this request and return the claim's pk.

    Raises ``Answered`` with the response of the identical request that claimed it first, or
    ``StillRunning`` when that request has no answer after ``WAIT_S``. Views run in autocommit, so the
    claim is committed, and seen by every other request, before the view starts.
    """
    signed_request_claims_expired_delete()
    expires_at = datetime.fromtimestamp(credential.created + signatures.MAX_AGE_S + CLAIM_MARGIN_S, tz=UTC)
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            with transaction.atomic():
                return SignedRequestClaim.objects.create(
                    key=credential.key, signature=credential.signature, expires_at=expires_at).pk
        except IntegrityError:
            pass  # claimed by another request: wait for its answer
        _first_answer_wait(credential, deadline)  # returns only if the first request released its claim


def _first_answer_wait(credential: SignedCredential, deadline: float) -> None:
    delay = POLL_FIRST_S
    while True:
        row = (SignedRequestClaim.objects.filter(key=credential.key, signature=credential.signature)
               .values("response_status", "response_content_type", "response_body").first())
        if row is None:
            return
        if row["response_status"] is not None:
            raise Answered(StoredResponse(row["response_status"], row["response_content_type"],
                                          bytes(row["response_body"])))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StillRunning()
        time.sleep(min(delay, remaining))
        delay = min(delay * 1.5, POLL_MAX_S)


def signed_request_settle(*, claim_pk: int, response) -> None:
    """Store ``response`` (rendered here) as the claim's answer, or release the claim when it is a
    failure the SDK retries."""
    if _is_released(response.status_code):
        signed_request_release(claim_pk=claim_pk)
        return
    if hasattr(response, "render"):
        response.render()
    SignedRequestClaim.objects.filter(pk=claim_pk).update(
        response_status=response.status_code, response_content_type=response.get("Content-Type"),
        response_body=bytes(response.content))


def signed_request_release(*, claim_pk: int) -> None:
    """Forget a claim whose request failed, so an identical request (the SDK's retry) runs afresh."""
    try:
        SignedRequestClaim.objects.filter(pk=claim_pk).delete()
    except DatabaseError:  # the request's own error is the one to report; the claim expires anyway
        logger.exception("Could not release signed request claim %s", claim_pk)


def signed_request_claims_expired_delete() -> int:
    """Delete claims whose signatures have expired (an identical request would be refused as stale)."""
    deleted, _ = SignedRequestClaim.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted
