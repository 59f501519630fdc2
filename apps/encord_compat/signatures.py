"""Verification of the two signature schemes the Encord SDK uses (spec/encord-compat.md).

Pure functions over the request's method, raw target, headers and body: no database, no Django.
The caller looks the key up (``key_lookup``) so this module can be tested byte for byte.

- **v2** (HTTP message signatures, RFC 9421 as the SDK implements it): ``Content-Digest`` is the
  SHA-256 of the body; ``Signature-Input`` names the covered components and carries ``created``,
  ``keyid`` (hex of the raw Ed25519 key) and ``alg``; ``Signature`` is Ed25519 over the signature
  base, whose ``@request-target`` is the path and query **as sent**. Any change to method, target,
  body or parameters breaks it. The signature must be written in canonical base64 (as the SDK writes
  it), so one signature has exactly one spelling; the replay layer keys on its bytes regardless.
- **legacy** (``POST /public``): ``Authorization: <key hex>:<hex Ed25519 signature of sha256(body)>``.
  It covers only the body, which is all the legacy protocol ever signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

LABEL = "encord-sig"
COVERED = ('"@method"', '"@request-target"', '"content-digest"')
# Old SDKs (<= 0.1.150) date ``created`` 30 s in the past to absorb clock skew; allow that and a
# few minutes either way, which also bounds how long a captured request can be replayed.
MAX_AGE_S = 300
MAX_FUTURE_S = 60

_SIG_INPUT = re.compile(r'^\((?P<covered>[^)]*)\)(?P<params>(?:;[a-z]+=(?:"[^"]*"|-?\d+))*)$')
_PARAM = re.compile(r';([a-z]+)=("[^"]*"|-?\d+)')
_BYTES_ITEM = re.compile(r"^:(?P<b64>[A-Za-z0-9+/=]*):$")


class SignatureError(Exception):
    """Why a signed request was refused; the message is safe to show the caller."""


@dataclass(frozen=True)
class VerifiedSignature:
    """What a verified v2 request was signed with: the bytes identify the request (Ed25519 is
    deterministic, so the same key, request and ``created`` second always give the same bytes)."""

    signature: bytes
    created: int


@dataclass(frozen=True)
class SignedRequest:
    method: str
    target: str  # raw path and query, as the client sent them
    body: bytes
    content_digest: str | None
    signature_input: str | None
    signature: str | None


def content_digest(body: bytes) -> str:
    """The ``Content-Digest`` value of ``body`` (``sha-256=:<base64>:``)."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode('ascii')}:"


def signature_base(method: str, target: str, digest: str, params: str) -> bytes:
    """The exact bytes the client signs: one line per covered component, then the parameters."""
    lines = [
        f'"@method": {method.upper()}',
        f'"@request-target": {target}',
        f'"content-digest": {digest}',
        f'"@signature-params": {params}',
    ]
    return "\n".join(lines).encode()


def v2_key_id(request: SignedRequest) -> str:
    """The ``keyid`` a v2 request names (hex), without verifying anything yet."""
    _, params = _parse_signature_input(request.signature_input)
    return params["keyid"]


def verify_v2(request: SignedRequest, *, public_key_hex: str, now: float) -> VerifiedSignature:
    """The signature of ``request``; ``SignatureError`` unless it is signed by ``public_key_hex`` within
    the time window."""
    if not request.content_digest or not request.signature:
        raise SignatureError("Signed requests need Content-Digest, Signature-Input and Signature headers.")
    if request.content_digest.strip() != content_digest(request.body):
        raise SignatureError("Content-Digest does not match the request body.")
    serialised, params = _parse_signature_input(request.signature_input)
    if params.get("alg", "ed25519") != "ed25519":
        raise SignatureError(f"Unsupported signature algorithm {params['alg']!r}; use ed25519.")
    created = params.get("created")
    if created is None:
        raise SignatureError("Signature-Input has no 'created' parameter.")
    age = now - int(created)
    if age > MAX_AGE_S or age < -MAX_FUTURE_S:
        raise SignatureError("The signature is stale (its 'created' time is outside the accepted window).")
    signature = _signature_bytes(request.signature)
    base = signature_base(request.method, request.target, request.content_digest.strip(), serialised)
    _verify(public_key_hex, signature, base)
    return VerifiedSignature(signature=signature, created=int(created))


def legacy_key_and_signature(authorization: str | None) -> tuple[str, str]:
    """Split a legacy ``Authorization: <key hex>:<signature hex>`` header."""
    key_hex, sep, signature_hex = (authorization or "").strip().partition(":")
    if not sep or not key_hex or not signature_hex:
        raise SignatureError("Authorization must be '<public key hex>:<signature hex>'.")
    return key_hex.lower(), signature_hex


def verify_legacy(body: bytes, *, public_key_hex: str, signature_hex: str) -> None:
    """Raise ``SignatureError`` unless ``signature_hex`` signs SHA-256(body) with ``public_key_hex``."""
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError as exc:
        raise SignatureError("The signature is not hexadecimal.") from exc
    _verify(public_key_hex, signature, hashlib.sha256(body).digest())


def _parse_signature_input(value: str | None) -> tuple[str, dict]:
    label, sep, serialised = (value or "").strip().partition("=")
    if not sep or label != LABEL:
        raise SignatureError(f'Signature-Input must be labelled "{LABEL}".')
    match = _SIG_INPUT.match(serialised)
    if match is None:
        raise SignatureError("Signature-Input is malformed.")
    if tuple(match["covered"].split()) != COVERED:
        raise SignatureError(f"The signature must cover {' '.join(COVERED)}.")
    params = {name: raw.strip('"') if raw.startswith('"') else int(raw)
              for name, raw in _PARAM.findall(match["params"])}
    if not isinstance(params.get("keyid"), str) or not params["keyid"]:
        raise SignatureError("Signature-Input has no 'keyid'.")
    if "created" in params and not isinstance(params["created"], int):
        raise SignatureError("Signature-Input's 'created' must be an integer (seconds since the epoch).")
    params["keyid"] = params["keyid"].lower()
    return serialised, params


def _signature_bytes(value: str) -> bytes:
    label, sep, item = value.strip().partition("=")
    match = _BYTES_ITEM.match(item) if sep and label == LABEL else None
    if match is None:
        raise SignatureError(f'Signature must be "{LABEL}=:<base64>:".')
    try:
        signature = base64.b64decode(match["b64"], validate=True)
    except binascii.Error as exc:
        raise SignatureError("Signature is not valid base64.") from exc
    # RFC 8941 lets parsers accept non-zero pad bits and missing padding, but each is a second spelling
    # of the same bytes (a 64-byte signature has 16 ways to write its last character) and the SDK never
    # sends one: accept only the form base64 encoding gives.
    if base64.b64encode(signature).decode("ascii") != match["b64"]:
        raise SignatureError("Signature is not canonical base64 (standard alphabet, '=' padding, zero pad bits).")
    return signature


def _verify(public_key_hex: str, signature: bytes, message: bytes) -> None:
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        key.verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError("The signature does not verify against the registered key.") from exc
