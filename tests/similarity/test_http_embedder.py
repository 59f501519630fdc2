"""The HTTP embedder against a real local HTTP server, and the fetch guard in front of it."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.core.errors import ServiceValidationError, UpstreamServiceError
from apps.metadata.services.schema import EmbedderSpec, schema_key_add, schema_key_embedder_set
from apps.similarity.embedders import embed_image, embed_text, image_keys, text_keys
from tests.media_factory import make_png


class Endpoint(BaseHTTPRequestHandler):
    """Answers by path: /good (vector of the asked size), /slow, /error, /html, /short, /nan, /redirect."""

    size = 4
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.path, self.headers["Content-Type"], body))
        if self.path == "/slow":
            time.sleep(2)
        if self.path == "/error":
            return self._answer(500, b'{"error": "boom"}')
        if self.path == "/redirect":
            self.send_response(307)
            self.send_header("Location", "/good")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        answers = {"/html": b"<html>oops</html>", "/short": json.dumps({"vector": [1.0, 2.0]}).encode(),
                   "/nan": b'{"vector": [1, NaN, 2, 3]}', "/novector": b'{"v": [1, 2, 3, 4]}'}
        seed = len(body.get("text", body.get("image", "")))
        vector = [float(seed), 1.0, 2.0, 3.0][: self.size]
        return self._answer(200, answers.get(self.path, json.dumps({"vector": vector}).encode()))

    def _answer(self, status, payload):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Endpoint.received = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def admin(org, make_user):
    return make_user(org, role="admin", email="admin@example.com")


def _http_key(admin, org, url, *, inputs=("text",), timeout=1.0, name="clip"):
    return schema_key_add(user=admin, organisation=org, name=name, type="embedding", size=4,
                          embedder=EmbedderSpec(kind="http", url=url, inputs=inputs, timeout=timeout))


def test_a_good_endpoint_gives_the_vector_for_text_and_image(endpoint, admin, org, tmp_path):
    key = _http_key(admin, org, f"{endpoint}/good", inputs=("image", "text"))
    assert embed_text(key=key, text="red car") == [7.0, 1.0, 2.0, 3.0]
    png = make_png(tmp_path / "a.png").read_bytes()
    vector = embed_image(key=key, data=png)
    assert vector == [float(len(base64.b64encode(png))), 1.0, 2.0, 3.0]
    assert Endpoint.received == [
        ("/good", "application/json", {"text": "red car"}),
        ("/good", "application/json", {"image": base64.b64encode(png).decode(), "mime": "image/png"}),
    ]
    assert list(text_keys(org)) == [key] and list(image_keys(org)) == [key]


@pytest.mark.parametrize(("path", "message"), [
    ("/slow", 'The embedder of key "clip" failed: http://127.0.0.1:{port}/slow did not send data for 0.5 s.'),
    ("/error", 'The embedder of key "clip" failed: http://127.0.0.1:{port}/error answered HTTP 500 Internal Server Error.'),
    ("/html", 'The embedder of key "clip" did not answer JSON (Expecting value: line 1 column 1 (char 0)).'),
    ("/short", 'The embedder of key "clip" answered a vector of 2 numbers; the key holds 4.'),
    ("/nan", 'The embedder of key "clip" answered a vector holding something other than finite numbers.'),
    ("/novector", 'The embedder of key "clip" answered without a "vector" list.'),
    ("/redirect", 'The embedder of key "clip" failed: http://127.0.0.1:{port}/redirect answered HTTP 307 (a redirect); '
                  "redirects are not followed for a POST."),
])
def test_endpoint_failures_are_upstream_errors_the_user_can_read(endpoint, admin, org, path, message):
    key = _http_key(admin, org, f"{endpoint}{path}", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(UpstreamServiceError) as caught:
        embed_text(key=key, text="hello")
    port = endpoint.rsplit(":", 1)[1]
    assert caught.value.message_dict == {"similar_to.text": [message.format(port=port)]}
    assert time.monotonic() - started < 1.9  # the timeout, not the endpoint's 2 s sleep


def test_the_fetch_guard_refuses_internal_addresses_unless_allowed(endpoint, admin, org, settings):
    settings.LOUPE_FETCH_ALLOW_HOSTS = []
    key = _http_key(admin, org, f"{endpoint}/good")
    with pytest.raises(UpstreamServiceError) as caught:
        embed_text(key=key, text="hello")
    assert caught.value.message_dict == {"similar_to.text": [
        f'The embedder of key "clip" failed: {endpoint}/good resolves to 127.0.0.1, a loopback address; '
        "an admin can allow it with LOUPE_FETCH_ALLOW_HOSTS."
    ]}
    assert Endpoint.received == []

    settings.LOUPE_FETCH_ALLOW_HOSTS = ["127.0.0.0/8", "169.254.0.0/16"]
    assert embed_text(key=key, text="hi") == [2.0, 1.0, 2.0, 3.0]
    metadata = _http_key(admin, org, "http://169.254.169.254/latest", name="meta")
    with pytest.raises(UpstreamServiceError) as caught:
        embed_text(key=metadata, text="hello")
    assert caught.value.message_dict == {"similar_to.text": [
        'The embedder of key "meta" failed: http://169.254.169.254/latest resolves to 169.254.169.254, a cloud '
        "metadata service address; it can only be allowed by listing that exact address in LOUPE_FETCH_ALLOW_HOSTS."
    ]}
    settings.LOUPE_FETCH_ALLOW_HOSTS = []
    link_local = _http_key(admin, org, "http://169.254.10.20:8080/embed", name="link")
    with pytest.raises(UpstreamServiceError) as caught:
        embed_text(key=link_local, text="hello")
    assert "resolves to 169.254.10.20, a link-local address" in caught.value.message_dict["similar_to.text"][0]


def test_keys_without_a_matching_embedder_are_refused_with_400s(endpoint, admin, org, tmp_path):
    plain = schema_key_add(user=admin, organisation=org, name="plain", type="embedding", size=4)
    text_only = _http_key(admin, org, f"{endpoint}/good", name="texty")
    score = schema_key_add(user=admin, organisation=org, name="score", type="number")
    png = make_png(tmp_path / "a.png").read_bytes()
    cases = [
        (lambda: embed_text(key=plain, text="x"), {"similar_to.text": [
            'Key "plain" has no embedder that takes a text: an admin can set one in the metadata schema.']}),
        (lambda: embed_image(key=text_only, data=png), {"similar_to.image": [
            'Key "texty" has no embedder that takes an image: an admin can set one in the metadata schema.']}),
        (lambda: embed_text(key=score, text="x"), {"similar_to.text": ['"score" is not an active embedding key.']}),
        (lambda: embed_text(key=text_only, text="x" * 10_001), {"similar_to.text": [
            "The text has 10,001 characters; at most 10,000."]}),
    ]
    for call, errors in cases:
        with pytest.raises(ServiceValidationError) as caught:
            call()
        assert caught.value.message_dict == errors
    both = schema_key_embedder_set(user=admin, key=text_only, embedder=EmbedderSpec(
        kind="http", url=f"{endpoint}/good", inputs=("text", "image"), timeout=1))
    with pytest.raises(ServiceValidationError) as caught:
        embed_image(key=both, data=b"not an image")
    assert caught.value.message_dict == {"similar_to.image": ["The file is not an image Loupe can read."]}
    assert Endpoint.received == []
    assert [k.name for k in text_keys(org)] == ["texty"] and [k.name for k in image_keys(org)] == ["texty"]


def test_the_built_in_model_embeds_text_on_its_key(admin, org):
    key = schema_key_add(user=admin, organisation=org, name="text", type="embedding", size=384,
                         embedder=EmbedderSpec(kind="builtin_text"))
    vector = embed_text(key=key, text="hello world")
    assert len(vector) == 384
    assert vector[:2] == pytest.approx([-0.03447727, 0.03102316], abs=1e-5)
    with pytest.raises(ServiceValidationError) as caught:
        embed_image(key=key, data=b"x")
    assert caught.value.message_dict == {"similar_to.image": [
        'Key "text" has no embedder that takes an image: an admin can set one in the metadata schema.']}


def test_a_failing_endpoint_is_shown_on_the_explorer_page_not_a_500(endpoint, admin, org, client):
    """The sentence box on a key whose endpoint answers 500: the page says what the endpoint did."""
    from html import unescape

    _http_key(admin, org, f"{endpoint}/error")
    client.force_login(admin)

    response = client.get("/explore/", {"organisation": str(org.pk), "similar": "clip", "similar_text": "red car"})

    assert response.status_code == 200
    port = endpoint.rsplit(":", 1)[1]
    assert (f'The embedder of key "clip" failed: http://127.0.0.1:{port}/error answered HTTP 500 Internal Server '
            "Error.") in unescape(response.content.decode())
