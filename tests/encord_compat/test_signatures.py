"""``apps.encord_compat.signatures`` byte for byte, with requests signed by the SDK's own code."""

from __future__ import annotations

import hashlib
import time

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord.http.v2.request_signer import sign_request

from apps.encord_compat import signatures
from apps.encord_compat.upload_format import UploadFormatError, data_items_to_import

KEY = Ed25519PrivateKey.generate()
KEY_HEX = KEY.public_key().public_bytes_raw().hex()


def _signed(method="POST", url="http://h/v2/public/storage/items/get-bulk?x=1&y=True", body=None):
    prepared = sign_request(requests.Request(method, url, json=body).prepare(), KEY_HEX, KEY)
    return signatures.SignedRequest(
        method=prepared.method, target=prepared.path_url, body=prepared.body or b"",
        content_digest=prepared.headers["Content-Digest"], signature_input=prepared.headers["Signature-Input"],
        signature=prepared.headers["Signature"],
    )


def test_sdk_signature_verifies():
    request = _signed(body={"itemUuids": []})
    assert signatures.v2_key_id(request) == KEY_HEX
    signatures.verify_v2(request, public_key_hex=KEY_HEX, now=time.time())


@pytest.mark.parametrize("change, message", [
    ({"body": b'{"itemUuids": ["x"]}'}, "Content-Digest does not match"),
    ({"target": "/v2/public/storage/items/get-bulk?x=2&y=True"}, "does not verify"),
    ({"method": "PATCH"}, "does not verify"),
    ({"signature": "encord-sig=:AAAA:"}, "does not verify"),
    ({"signature": "other=:AAAA:"}, "Signature must be"),
    ({"signature_input": 'encord-sig=("@method");created=1;keyid="ab"'}, "must cover"),
])
def test_any_change_is_refused(change, message):
    request = _signed(body={"itemUuids": []})
    tampered = signatures.SignedRequest(**(request.__dict__ | change))
    with pytest.raises(signatures.SignatureError, match=message):
        signatures.verify_v2(tampered, public_key_hex=KEY_HEX, now=time.time())


def test_created_window():
    request = _signed()
    created = int(request.signature_input.split("created=")[1].split(";")[0])
    signatures.verify_v2(request, public_key_hex=KEY_HEX, now=created + signatures.MAX_AGE_S)
    with pytest.raises(signatures.SignatureError, match="stale"):
        signatures.verify_v2(request, public_key_hex=KEY_HEX, now=created + signatures.MAX_AGE_S + 1)
    with pytest.raises(signatures.SignatureError, match="stale"):
        signatures.verify_v2(request, public_key_hex=KEY_HEX, now=created - signatures.MAX_FUTURE_S - 1)


def test_another_key_does_not_verify():
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    with pytest.raises(signatures.SignatureError, match="does not verify"):
        signatures.verify_v2(_signed(), public_key_hex=other, now=time.time())


def test_legacy_signature():
    body = b'{"query_type": "cloudintegration"}'
    signature = KEY.sign(hashlib.sha256(body).digest()).hex()
    key_hex, sig_hex = signatures.legacy_key_and_signature(f"{KEY_HEX}:{signature}")
    signatures.verify_legacy(body, public_key_hex=key_hex, signature_hex=sig_hex)
    with pytest.raises(signatures.SignatureError):
        signatures.verify_legacy(body + b" ", public_key_hex=key_hex, signature_hex=sig_hex)
    with pytest.raises(signatures.SignatureError, match="hexadecimal"):
        signatures.verify_legacy(body, public_key_hex=key_hex, signature_hex="zz")
    with pytest.raises(signatures.SignatureError, match="must be"):
        signatures.legacy_key_and_signature("no-colon")


def test_data_items_become_the_import_format():
    document = data_items_to_import({
        "images": [{"objectUrl": "https://h/a.jpg", "title": "a", "clientMetadata": {"k": 1},
                    "externalFileType": "IMAGE", "imageMetadata": {"mimeType": "image/jpeg", "fileSize": 1,
                                                                   "width": 2, "height": 3}}],
        "imageGroups": [{"images": [{"url": "https://h/0.jpg"}, {"url": "https://h/1.jpg"}], "title": "g",
                         "createVideo": True, "clientMetadata": {}, "externalFileType": "IMG_GROUP"}],
        "dicomSeries": [{"dicomFiles": [{"url": "https://h/0.dcm", "title": None}], "title": "s"}],
        "videos": [], "timeSeries": [], "skipDuplicateUrls": True, "upsertMetadata": False,
    })
    assert document == {
        "images": [{"objectUrl": "https://h/a.jpg", "title": "a", "clientMetadata": {"k": 1},
                    "imageMetadata": {"mimeType": "image/jpeg", "fileSize": 1, "width": 2, "height": 3}}],
        "image_groups": [{"title": "g", "createVideo": True, "objectUrl_0": "https://h/0.jpg",
                          "objectUrl_1": "https://h/1.jpg"}],
        "dicom_series": [{"title": "s", "objectUrl_0": "https://h/0.dcm"}],
        "skip_duplicate_urls": True, "upsert_metadata": False,
    }
    with pytest.raises(UploadFormatError, match="scenes"):
        data_items_to_import({"scenes": [{"title": "x"}]})
    with pytest.raises(UploadFormatError, match="unknown key"):
        data_items_to_import({"pointClouds": []})
