"""Symmetric encryption for secrets Loupe must store (storage integration credentials).

The key is ``LOUPE_ENCRYPTION_KEY`` when set, else derived from ``SECRET_KEY``; rotating either
makes stored credentials unreadable, which is why the variable exists separately.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    material = settings.LOUPE_ENCRYPTION_KEY or settings.SECRET_KEY
    key = base64.urlsafe_b64encode(hashlib.sha256(("loupe-secrets:" + material).encode()).digest())
    return Fernet(key)


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode() if plaintext else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("Stored secret cannot be decrypted: was the encryption key changed?") from exc
