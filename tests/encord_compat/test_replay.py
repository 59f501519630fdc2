"""A signed write is an idempotency key: it runs once, and every identical request gets its answer.

Ed25519 signatures are deterministic and the SDK dates them to the second, so the same write sent
twice within a second carries the same signature: that is a legitimate retry, not an attack, and it
must get the first request's response. A captured write replayed in any spelling of its signature,
or many times at once, must not run a second time either. Real HTTP against the live server.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from encord.configs import SshConfig
from encord.http.v2.request_signer import sign_request

from apps.encord_compat import replay
from apps.encord_compat.models import SignedRequestClaim
from apps.metadata.records import MetadataChange
from apps.storage.models import Folder
from tests.encord_compat.helpers import register_images

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
CONCURRENT = 12


@pytest.fixture
def base(live_server):
    return live_server.url + "/v2/public"


@pytest.fixture
def frozen_signer_clock(monkeypatch):
    """The SDK's signer reads ``datetime.now()`` (one-second resolution): pin it, as two calls made
    within the same second see it, so the test does not depend on how fast this machine is."""
    import encord.http.v2.request_signer as signer

    pinned = datetime.fromtimestamp(int(time.time()))

    class Pinned:
        @staticmethod
        def now():
            return pinned

    monkeypatch.setattr(signer, "datetime", Pinned)


def _signed(method: str, url: str, private, *, body=None) -> requests.PreparedRequest:
    request = requests.Request(method, url, json=body).prepare()
    return sign_request(request, private.public_key().public_bytes_raw().hex(), private)


def _send(prepared: requests.PreparedRequest) -> requests.Response:
    with requests.Session() as session:
        return session.send(prepared, timeout=60)


def _signature_of(prepared) -> bytes:
    return base64.b64decode(prepared.headers["Signature"].split("=:", 1)[1].rstrip(":"))


def _answer(response: requests.Response) -> tuple[int, str | None, bytes]:
    return response.status_code, response.headers.get("Content-Type"), response.content


def _spellings(b64: str) -> dict[str, str]:
    """Every way of writing the same 64 signature bytes that a lenient base64 decoder accepts, and a
    few more that only a careless parser would: name -> the ``Signature`` header value."""
    assert len(b64) == 88 and b64.endswith("==")
    head, last = b64[:85], b64[85]
    high = B64.index(last) & 0b110000  # the 2 bits that carry data; the low 4 are padding bits
    variants = {f"pad bits {bits:04b}": f"{head}{B64[high | bits]}==" for bits in range(16)}
    variants |= {
        "no padding": b64.rstrip("="),
        "half padding": b64[:-1],
        "extra padding": b64 + "=",
        "url-safe alphabet": b64.replace("+", "-").replace("/", "_"),
        "inner space": b64[:40] + " " + b64[40:],
        "inner tab": b64[:40] + "\t" + b64[40:],
        "spaces inside the colons": f" {b64} ",
    }
    headers = {name: f"encord-sig=:{value}:" for name, value in variants.items()}
    headers["space before the item"] = f"encord-sig= :{b64}:"
    headers["upper-case label"] = f"ENCORD-SIG=:{b64}:"
    return headers


def test_every_spelling_of_a_captured_signature_runs_once(base, alice, alice_key, folder):
    (item,) = register_images(alice, folder, 1, metadata={"n": 0})
    url = f"{base}/storage/folders/{folder.pk}/items/{item.pk}"
    n = 1
    captured = _signed("PATCH", url, alice_key[1], body={"clientMetadata": {"n": n}})
    while not {"+", "/"} & set(captured.headers["Signature"]):  # so the url-safe spelling differs
        n += 1
        captured = _signed("PATCH", url, alice_key[1], body={"clientMetadata": {"n": n}})
    canonical = captured.headers["Signature"].split("=:", 1)[1].rstrip(":")
    spellings = _spellings(canonical)
    assert captured.headers["Signature"] in spellings.values()

    first = _send(captured)
    answers = {}
    for name, header in spellings.items():
        replayed = captured.copy()
        replayed.headers["Signature"] = header
        answers[name] = _send(replayed)

    assert first.status_code == 200
    assert MetadataChange.objects.filter(item=item).count() == 1
    item.refresh_from_db()
    assert item.client_metadata == {"n": n}
    refused = {name: r.json()["message"] for name, r in answers.items() if r.status_code == 401}
    repeated = {name for name, r in answers.items() if _answer(r) == _answer(first)}
    assert repeated | set(refused) == set(spellings), {n: r.status_code for n, r in answers.items()}
    assert repeated == {name for name, header in spellings.items() if header == captured.headers["Signature"]}
    assert all("Signature" in message for message in refused.values()), refused
    assert len(spellings) == 25


def test_identical_writes_sent_at_once_run_once_and_get_one_answer(base, alice, alice_key, folder):
    (item,) = register_images(alice, folder, 1, metadata={"n": 0})
    captured = _signed("PATCH", f"{base}/storage/folders/{folder.pk}/items/{item.pk}", alice_key[1],
                       body={"clientMetadata": {"n": 1}})
    start = threading.Barrier(CONCURRENT)
    answers: list = [None] * CONCURRENT

    def send(index: int) -> None:
        start.wait()
        answers[index] = _answer(_send(captured))

    threads = [threading.Thread(target=send, args=(index,)) for index in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert MetadataChange.objects.filter(item=item).count() == 1
    assert len(set(answers)) == 1, [a[0] for a in answers]
    status, content_type, body = answers[0]
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body)["uuid"] == str(item.pk)


def test_the_sdk_may_send_the_same_write_twice_within_a_second(live_server, alice, alice_key, folder,
                                                                frozen_signer_clock):
    from encord import EncordUserClient

    (item,) = register_images(alice, folder, 1, metadata={"n": 0})
    client = EncordUserClient.create_with_ssh_private_key(ssh_private_key_path=str(alice_key[0]),
                                                          domain=live_server.url)
    stored = client.get_storage_item(item.pk)

    stored.update(client_metadata={"n": 1})
    stored.update(client_metadata={"n": 1})  # a re-run of an idempotent script in the same second
    made = [client.create_storage_folder("twice", parent_folder=folder.pk) for _ in range(2)]

    assert MetadataChange.objects.filter(item=item).count() == 1
    item.refresh_from_db()
    assert item.client_metadata == {"n": 1}
    assert made[0].uuid == made[1].uuid
    assert list(Folder.objects.filter(parent=folder).values_list("pk", "name")) == [(made[0].uuid, "twice")]


def test_another_body_signed_in_the_same_second_is_another_request(base, alice, alice_key, folder,
                                                                  frozen_signer_clock):
    (item,) = register_images(alice, folder, 1, metadata={"n": 0})
    url = f"{base}/storage/folders/{folder.pk}/items/{item.pk}"
    one = _signed("PATCH", url, alice_key[1], body={"clientMetadata": {"n": 1}})
    two = _signed("PATCH", url, alice_key[1], body={"clientMetadata": {"n": 2}})
    assert one.headers["Signature-Input"] == two.headers["Signature-Input"]  # same key, same second

    answers = [_send(one), _send(one), _send(two)]

    assert [r.status_code for r in answers] == [200, 200, 200]
    assert _answer(answers[0]) == _answer(answers[1])
    assert json.loads(answers[1].json()["clientMetadata"]) == {"n": 1}
    assert json.loads(answers[2].json()["clientMetadata"]) == {"n": 2}
    assert MetadataChange.objects.filter(item=item).count() == 2
    item.refresh_from_db()
    assert item.client_metadata == {"n": 2}


def test_a_write_whose_first_run_has_no_answer_yet_is_not_run_again(base, alice, alice_key, folder, monkeypatch):
    """A claim without a response is a request still running, or one whose process died: its outcome is
    unknown, so the identical request waits (bounded), then is a 409 that says so, and changes nothing."""
    monkeypatch.setattr(replay, "WAIT_S", 0.5)
    (item,) = register_images(alice, folder, 1, metadata={"n": 0})
    write = _signed("PATCH", f"{base}/storage/folders/{folder.pk}/items/{item.pk}", alice_key[1],
                    body={"clientMetadata": {"n": 1}})
    SignedRequestClaim.objects.create(key=alice.public_keys.get(), signature=_signature_of(write),
                                      expires_at=datetime.now(UTC) + timedelta(minutes=5))

    started = time.monotonic()
    response = _send(write)

    assert response.status_code == 409
    assert "still being carried out" in response.json()["message"]
    assert 0.5 <= time.monotonic() - started < 5
    assert MetadataChange.objects.filter(item=item).count() == 0


def test_a_write_that_crashed_runs_again_when_retried(base, alice, alice_key, folder, monkeypatch):
    """A 500 (an uncaught error: the atomic services changed nothing) releases the claim, so the SDK's
    retry of the identical request runs; its answer is then the one kept. The crash is injected: nothing
    in Loupe crashes on demand."""
    from apps.encord_compat.views import items

    (item,) = register_images(alice, folder, 1, metadata={"n": 0})
    write = _signed("PATCH", f"{base}/storage/folders/{folder.pk}/items/{item.pk}", alice_key[1],
                    body={"clientMetadata": {"n": 1}})
    original = items.FolderItemView.patch
    calls = []

    def crash_once(self, request, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("worker lost mid-request")
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(items.FolderItemView, "patch", crash_once)

    answers = [_send(write).status_code for _ in range(3)]

    assert answers == [500, 200, 200]
    assert len(calls) == 2
    assert MetadataChange.objects.filter(item=item).count() == 1
    assert SignedRequestClaim.objects.get().response_status == 200


def test_expired_claims_are_deleted_as_new_ones_come(base, alice, alice_key, folder):
    key = alice.public_keys.get()
    now = datetime.now(UTC)
    SignedRequestClaim.objects.create(key=key, signature=b"old" * 21 + b"x", expires_at=now - timedelta(seconds=1))
    SignedRequestClaim.objects.create(key=key, signature=b"new" * 21 + b"x", expires_at=now + timedelta(minutes=1))
    (item,) = register_images(alice, folder, 1)

    response = _send(_signed("PATCH", f"{base}/storage/folders/{folder.pk}/items/{item.pk}", alice_key[1],
                             body={"clientMetadata": {"n": 1}}))

    assert response.status_code == 200
    kept = SignedRequestClaim.objects.order_by("expires_at")
    assert [bytes(claim.signature) for claim in kept] == [b"new" * 21 + b"x", _signature_of(response.request)]
    assert kept.last().expires_at.timestamp() == pytest.approx(
        int(time.time()) + replay.signatures.MAX_AGE_S + replay.CLAIM_MARGIN_S, abs=5)


def test_legacy_signatures_may_only_read(live_server, alice, alice_key, org):
    """``POST /public`` signatures cover only the body, with no time: a write is refused before any handler."""
    config = SshConfig(alice_key[1], domain=live_server.url)
    for method in ("POST", "PUT", "DELETE", "PATCH", ""):
        body = json.dumps({"query_type": "cloudintegration", "query_method": method,
                           "values": {"uid": None, "payload": {"title": "x"}}})
        response = requests.post(f"{live_server.url}/public", data=body, headers=config.define_headers(None, None, body),
                                 timeout=30)
        assert response.status_code == 403, method
        assert response.json()["response"] == ["AUTHORISATION_ERROR"]
        assert f"may only read (query_method GET, not {method!r})" in response.json()["payload"]
    read = json.dumps({"query_type": "cloudintegration", "query_method": "GET", "values": {"uid": None,
                                                                                          "payload": None}})
    assert requests.post(f"{live_server.url}/public", data=read, headers=config.define_headers(None, None, read),
                         timeout=30).status_code == 200


def test_an_empty_answer_is_replayed_as_it_was(base, alice, alice_key, folder):
    """A 204 has no body and no content type: the identical request gets exactly that, not a default."""
    delete = _signed("DELETE", f"{base}/storage/folders/{folder.pk}", alice_key[1])

    answers = [_send(delete), _send(delete)]

    assert [_answer(r) for r in answers] == [(204, None, b"")] * 2
    assert answers[1].headers["Idempotent-Replayed"] == "true"
    folder.refresh_from_db()
    assert folder.deleted_at is not None
