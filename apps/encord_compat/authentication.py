"""DRF authentication for the Encord routes: signed requests (v2 and legacy) and bearer tokens.

A request that carries a signature must verify: a wrong digest, a stale ``created``, an unknown key or
any change to the method, path, query or body is a 401 before any view code runs, so nothing is done.
A verified v2 request's ``request.auth`` is its ``replay.SignedCredential``: a signed write runs once
(``apps.encord_compat.replay``). A legacy signature carries no time, so it may only read (``views/legacy``).
Permissions afterwards are Loupe's own (folder roles, organisation admins), as at every other door.
"""

from __future__ import annotations

import time
from urllib.parse import quote

from django.utils import timezone
from rest_framework import authentication, exceptions

from apps.core.authentication import ApiTokenAuthentication
from apps.core.models import PublicKey
from apps.encord_compat import replay, signatures

# Characters requests leaves unquoted in a path (requests.utils.requote_uri), so the target rebuilt
# from PATH_INFO matches the one the SDK signed when the server gives no raw URI.
_PATH_SAFE = "/!$&'()*+,;=:@~-._"
# ``last_used_at`` is bookkeeping: refresh it at most this often so signed reads stay writes-free.
LAST_USED_RESOLUTION_S = 60


def raw_request_target(request) -> str:
    """The path and query exactly as the client sent them (gunicorn's RAW_URI when present)."""
    meta = request.META
    raw = meta.get("RAW_URI") or meta.get("REQUEST_URI")
    if raw:
        return raw
    path = quote(meta.get("PATH_INFO", "").encode("latin-1"), safe=_PATH_SAFE)
    query = meta.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def _registered_key(key_hex: str) -> PublicKey:
    key = PublicKey.objects.select_related("user").filter(key_hex=key_hex).first()
    if key is None or not key.user.is_active:
        raise exceptions.AuthenticationFailed("Unknown public key: register it under Account > Public keys.")
    return key


def _verified_user(key: PublicKey):
    """The key's user, once its signature has verified (only then is the key marked as used)."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_S:
        PublicKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key.user


class SignedRequestAuthentication(authentication.BaseAuthentication):
    """v2 HTTP message signatures (``Signature-Input`` / ``Signature`` / ``Content-Digest``)."""

    def authenticate(self, request):
        meta = request.META
        if "HTTP_SIGNATURE_INPUT" not in meta and "HTTP_SIGNATURE" not in meta:
            return None
        signed = signatures.SignedRequest(
            method=request.method,
            target=raw_request_target(request),
            body=request._request.body,
            content_digest=meta.get("HTTP_CONTENT_DIGEST"),
            signature_input=meta.get("HTTP_SIGNATURE_INPUT"),
            signature=meta.get("HTTP_SIGNATURE"),
        )
        try:
            key = _registered_key(signatures.v2_key_id(signed))
            verified = signatures.verify_v2(signed, public_key_hex=key.key_hex, now=time.time())
        except signatures.SignatureError as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        # The credential names the request: EncordView claims a write by it before the view runs.
        return _verified_user(key), replay.SignedCredential(key=key, signature=verified.signature,
                                                            created=verified.created)

    def authenticate_header(self, request) -> str:
        return 'Signature realm="loupe"'


class LegacySignatureAuthentication(authentication.BaseAuthentication):
    """``Authorization: <key hex>:<signature hex>`` over SHA-256 of the body (``POST /public``)."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").strip()
        if not header or header.split()[0].lower() in ("token", "bearer"):
            return None
        try:
            key_hex, signature_hex = signatures.legacy_key_and_signature(header)
            key = _registered_key(key_hex)
            signatures.verify_legacy(request._request.body, public_key_hex=key.key_hex, signature_hex=signature_hex)
        except signatures.SignatureError as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return _verified_user(key), None

    def authenticate_header(self, request) -> str:
        return 'Signature realm="loupe"'


V2_AUTHENTICATION = [SignedRequestAuthentication, ApiTokenAuthentication]
LEGACY_AUTHENTICATION = [LegacySignatureAuthentication, ApiTokenAuthentication]
