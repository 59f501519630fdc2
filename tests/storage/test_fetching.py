"""apps.storage.fetching against real servers on loopback: http.server (plain and TLS) and moto's S3 server.

Network rule of the test machine: no traffic leaves loopback. An audit hook records every socket
connect and DNS lookup during each test and refuses any connect to a non-loopback address, so a
test of a blocked address also proves the fetcher refused it before connecting.
"""

import datetime
import http.server
import ipaddress
import os
import pickle
import socket
import ssl
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, unquote

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto.server import ThreadedMotoServer

from apps.storage.fetching import (
    FetchError,
    FetchPolicy,
    S3Credentials,
    check_host_allowed,
    fetch_to_file,
    head_size,
    parse_object_url,
    policy_from_strings,
    resolve_local_path,
)

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes
UNSIZED_BODY_BYTES = 3 * 65536
HUGE_DECLARED_BYTES = 10**12
FAST = 0.5  # seconds: the timeout used against the slow endpoints
BUCKET = "loupe-test"
ALLOW_HINT = "an admin can allow it with LOUPE_FETCH_ALLOW_HOSTS."


# --- network guard ------------------------------------------------------------------------------------

_GUARD = {"active": False, "connects": [], "lookups": [], "violations": []}


def _audit(event, args):
    if not _GUARD["active"]:
        return
    if event == "socket.getaddrinfo":
        _GUARD["lookups"].append(args[0])
    elif event == "socket.connect" and args[0].family in (socket.AF_INET, socket.AF_INET6):
        host, port = args[1][:2]
        _GUARD["connects"].append((host, port))
        if not ipaddress.ip_address(host.split("%", 1)[0]).is_loopback:
            _GUARD["violations"].append((host, port))
            raise ConnectionRefusedError(f"test network guard: no traffic to {host}")


sys.addaudithook(_audit)  # hooks are permanent; this one only acts while a test in this module runs


@pytest.fixture(autouse=True)
def network_guard():
    _GUARD.update(active=True, connects=[], lookups=[], violations=[])
    yield _GUARD
    _GUARD["active"] = False
    assert _GUARD["violations"] == []


# --- servers ------------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self._route()

    def do_GET(self):
        self._route()

    def _route(self):
        self.server.seen.append((self.command, self.path, self.headers.get("Host")))
        path, _, query = self.path.partition("?")
        if path == "/bytes":
            self._reply(200, PAYLOAD)
        elif path.startswith("/hop/"):
            left = int(path.removeprefix("/hop/"))
            self._redirect(f"/hop/{left - 1}" if left else "/bytes")
        elif path == "/to":
            self._redirect(unquote(query.removeprefix("url=")))
        elif path == "/missing":
            self._reply(404, b"no")
        elif path == "/broken":
            self._reply(500, b"oops")
        elif path == "/huge":
            self._reply(200, b"x" * 1024, length=HUGE_DECLARED_BYTES)
        elif path == "/unsized":
            self._reply(200, b"u" * UNSIZED_BODY_BYTES, length=None)
        elif path == "/slow-headers":
            self.server.release.wait(5)
            self._reply(200, PAYLOAD)
        elif path == "/slow-body":
            self._reply(200, b"s" * 10, length=1000)
            self.wfile.flush()
            self.server.release.wait(5)
        elif path == "/no-head":
            self._no_head()
        else:
            self._reply(400, b"unknown route")

    def _no_head(self):
        if self.command == "HEAD":
            self._reply(405, b"")
        elif self.headers.get("Range") == "bytes=0-0":
            self._reply(206, PAYLOAD[:1], extra={"Content-Range": f"bytes 0-0/{len(PAYLOAD)}"})
        else:
            self._reply(200, PAYLOAD)

    def _redirect(self, location):
        self._reply(302, b"", extra={"Location": location})

    def _reply(self, status, body, *, length=-1, extra=None):
        self.send_response(status)
        if length is not None:
            self.send_header("Content-Length", str(len(body) if length == -1 else length))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    def __init__(self, address, family=socket.AF_INET):
        self.address_family = family
        super().__init__(address, _Handler)
        self.seen = []
        self.release = threading.Event()

    def handle_error(self, request, client_address):
        pass  # clients that hang up on purpose (limits, timeouts) are expected here

    @property
    def port(self):
        return self.server_address[1]


def _serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _stop(server):
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def http_server():
    server = _serve(_Server(("127.0.0.1", 0)))
    yield server
    _stop(server)


@pytest.fixture
def web(http_server):
    http_server.seen.clear()
    return http_server


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _issue(name, *, key, issuer_name, issuer_key, ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A test CA and two HTTPS servers on 127.0.0.1: one certified for 'localhost', one for another name."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Loupe test CA")])
    ca_cert = _issue("Loupe test CA", key=ca_key, issuer_name=ca_name, issuer_key=ca_key, ca=True)
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    servers = {}
    for name in ("localhost", "other.example"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(name, key=key, issuer_name=ca_name, issuer_key=ca_key, ca=False)
        pem = folder / f"{name}.pem"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pem)
        server = _Server(("127.0.0.1", 0))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        servers[name] = _serve(server)
    yield {"ca": str(folder / "ca.pem"), **servers}
    for server in servers.values():
        _stop(server)


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on loopback with one bucket, and the credentials of an integration for it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    credentials = S3Credentials(
        endpoint_url=f"http://{host}:{port}", region="us-east-1",
        access_key_id="testing", secret_access_key="testing",
    )
    client = boto3.client(
        "s3", endpoint_url=credentials.endpoint_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key="cam/video 1.bin", Body=PAYLOAD)
    yield credentials
    server.stop()


def _fetch_error(call, *args, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as caught:
        call(*args, **kwargs)
    return caught.value


def _loopback_policy(**overrides):
    return FetchPolicy(**{"allow_hosts": ("127.0.0.1",), "timeout": FAST, **overrides})


# --- parsing ------------------------------------------------------------------------------------------


def test_parse_file_url_decodes_percent_escapes():
    parsed = parse_object_url("file:///data/my%20dir/a%23b.jpg")

    assert (parsed.kind, parsed.path) == ("file", Path("/data/my dir/a#b.jpg"))


def test_parse_s3_url_keeps_the_key_verbatim():
    parsed = parse_object_url("s3://bucket/cam/a b?#.mp4")

    assert (parsed.kind, parsed.bucket, parsed.key) == ("s3", "bucket", "cam/a b?#.mp4")


@pytest.mark.parametrize(("url", "bucket", "key", "region"), [
    ("https://my-bucket.s3.eu-west-1.amazonaws.com/cam/a%20b.jpg", "my-bucket", "cam/a b.jpg", "eu-west-1"),
    ("https://my.dotted.bucket.s3.us-east-1.amazonaws.com/k", "my.dotted.bucket", "k", "us-east-1"),
    ("https://my-bucket.s3.amazonaws.com/k", "my-bucket", "k", None),
    ("https://my-bucket.s3-eu-west-1.amazonaws.com/k", "my-bucket", "k", "eu-west-1"),
    ("https://my-bucket.s3.dualstack.us-gov-west-1.amazonaws.com/k", "my-bucket", "k", "us-gov-west-1"),
    ("https://s3.eu-west-1.amazonaws.com/my-bucket/cam/a.jpg", "my-bucket", "cam/a.jpg", "eu-west-1"),
    ("https://s3.amazonaws.com/my-bucket/a.jpg", "my-bucket", "a.jpg", None),
])
def test_parse_aws_https_urls(url, bucket, key, region):
    parsed = parse_object_url(url)

    assert (parsed.kind, parsed.bucket, parsed.key, parsed.region) == ("s3", bucket, key, region)


def test_parse_presigned_and_website_s3_urls_stay_http():
    presigned = parse_object_url("https://b.s3.us-east-1.amazonaws.com/k?X-Amz-Signature=abc")
    website = parse_object_url("http://b.s3-website-us-east-1.amazonaws.com/k")

    assert (presigned.kind, website.kind) == ("http", "http")


def test_parse_custom_endpoint_is_path_style_only_when_configured():
    url = "http://minio.internal:9000/bucket/cam/key%201.jpg"

    matched = parse_object_url(url, s3_endpoints=["http://minio.internal:9000"])
    other_port = parse_object_url(url, s3_endpoints=["http://minio.internal:9001"])
    other_scheme = parse_object_url(url, s3_endpoints=["https://minio.internal:9000"])
    prefixed = parse_object_url(
        "https://objects.example/s3/b/k", s3_endpoints=["https://objects.example/s3/"]
    )

    assert (matched.kind, matched.bucket, matched.key, matched.endpoint_url) == (
        "s3", "bucket", "cam/key 1.jpg", "http://minio.internal:9000",
    )
    assert (parse_object_url(url).kind, other_port.kind, other_scheme.kind) == ("http", "http", "http")
    assert (prefixed.kind, prefixed.bucket, prefixed.key) == ("s3", "b", "k")


def test_parse_http_url_normalises_host_and_port():
    plain = parse_object_url("HTTP://Example.COM./a.jpg")
    ipv6 = parse_object_url("https://[::1]:8443/x")

    assert (plain.kind, plain.scheme, plain.host, plain.port) == ("http", "http", "example.com", 80)
    assert (ipv6.host, ipv6.port) == ("::1", 8443)


@pytest.mark.parametrize("url", [
    "", "   ", "ftp://host/a", "data:text/plain,hi", "/etc/passwd", "s3://bucket", "s3://bucket/",
    "s3:///key", "http:///nohost", "http://host:99999/a", "file://server/share/a", "file:///a?b",
    "file:relative/a", "http://exa\nmple.com/", "https://b.s3.amazonaws.com/", "http://a\\@b/",
])
def test_parse_refuses_bad_urls(url):
    assert _fetch_error(parse_object_url, url).code == "bad_url"


def test_parse_limits_urls_to_16_kb():
    longest = "s3://b/" + "k" * (16 * 1024 - len("s3://b/"))

    assert parse_object_url(longest).key == "k" * (16 * 1024 - 7)
    error = _fetch_error(parse_object_url, longest + "k")
    assert (error.code, str(error)) == ("bad_url", "The URL is 16,385 bytes long; the limit is 16,384 bytes.")


def test_fetch_error_survives_pickling():
    error = pickle.loads(pickle.dumps(FetchError("http_error", "x answered HTTP 500.", status=500)))

    assert (error.code, error.status, str(error)) == ("http_error", 500, "x answered HTTP 500.")


# --- policy -------------------------------------------------------------------------------------------


def test_policy_from_strings_parses_the_settings_formats(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").symlink_to(tmp_path / "a")

    policy = policy_from_strings(
        local_roots=f"{tmp_path / 'a'}:: {tmp_path / 'b'} :",
        allow_hosts=" 127.0.0.1, ,Minio.Internal., 10.0.0.0/8 ,",
        timeout=2.0,
    )

    real = Path(os.path.realpath(tmp_path / "a"))
    assert policy == FetchPolicy(
        local_roots=(real, real), allow_hosts=("127.0.0.1", "minio.internal", "10.0.0.0/8"), timeout=2.0,
    )


def test_policy_from_strings_accepts_lists_as_the_settings_hold_them(tmp_path):
    policy = policy_from_strings(local_roots=[str(tmp_path), " "], allow_hosts=["", "10.0.0.0/8 "])

    assert (policy.local_roots, policy.allow_hosts) == ((Path(os.path.realpath(tmp_path)),), ("10.0.0.0/8",))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"local_roots": "relative/dir"}, "LOUPE_LOCAL_ROOTS entries must be absolute paths, got 'relative/dir'"),
    ({"allow_hosts": "10.0.0.0/33"}, "LOUPE_FETCH_ALLOW_HOSTS: '10.0.0.0/33' is not a valid address or CIDR"),
    ({"allow_hosts": "999.1.1.1"}, "LOUPE_FETCH_ALLOW_HOSTS: '999.1.1.1' is not a valid address or CIDR"),
])
def test_policy_from_strings_rejects_malformed_entries(kwargs, message):
    with pytest.raises(ValueError) as caught:
        policy_from_strings(**kwargs)

    assert str(caught.value) == message


# --- address checks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "problem"), [
    ("10.1.2.3", "a private address"),
    ("192.168.0.1", "a private address"),
    ("172.16.0.1", "a private address"),
    ("fc00::1", "a private address"),
    ("169.254.169.254", "a cloud metadata service address"),
    ("fd00:ec2::254", "a cloud metadata service address"),
    ("127.0.0.1", "a loopback address"),
    ("::1", "a loopback address"),
    ("169.254.10.1", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("::ffff:10.0.0.1", "a private address"),
    ("::ffff:127.0.0.1", "a loopback address"),
    ("2002:a00:1::", "a private address"),  # 6to4 wrapping 10.0.0.1
    ("64:ff9b::a9fe:a9fe", "a cloud metadata service address"),  # NAT64 wrapping 169.254.169.254
    ("100.64.0.1", "a shared (carrier-grade NAT) address"),
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("224.0.0.1", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
])
def test_check_host_allowed_refuses_non_public_addresses(host, problem):
    error = _fetch_error(check_host_allowed, host, policy=FetchPolicy())

    assert error.code == "blocked_address"
    assert str(error).startswith(f"{host} resolves to {host}, {problem}; ")


def test_check_host_allowed_message_names_the_setting():
    error = _fetch_error(check_host_allowed, "10.1.2.3", policy=FetchPolicy())

    assert str(error) == f"10.1.2.3 resolves to 10.1.2.3, a private address; {ALLOW_HINT}"


@pytest.mark.parametrize("host", ["93.184.215.14", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_check_host_allowed_returns_public_addresses(host):
    assert check_host_allowed(host, policy=FetchPolicy(), port=443) == [host]


def test_check_host_allowed_resolves_names(network_guard):
    error = _fetch_error(check_host_allowed, "localhost", policy=FetchPolicy())

    assert error.code == "blocked_address"
    assert str(error).startswith("localhost resolves to ")
    assert "a loopback address" in str(error)
    assert network_guard["lookups"] == ["localhost"]


@pytest.mark.parametrize(("host", "allow_hosts"), [
    ("localhost", ("LOCALHOST.",)),
    ("127.0.0.1", ("127.0.0.1",)),
    ("127.0.0.1", ("127.0.0.0/8",)),
    ("10.1.2.3", ("10.0.0.0/8",)),
    ("::ffff:10.1.2.3", ("10.0.0.0/8",)),
    ("::1", ("::1",)),
])
def test_allow_hosts_admits_names_and_ranges(host, allow_hosts):
    addresses = check_host_allowed(host, policy=policy_from_strings(allow_hosts=",".join(allow_hosts)))

    assert addresses and all(ipaddress.ip_address(a).is_loopback or a.endswith("10.1.2.3") for a in addresses)


def test_allow_hosts_range_does_not_cover_other_ranges():
    policy = FetchPolicy(allow_hosts=("10.0.0.0/8",))

    assert _fetch_error(check_host_allowed, "192.168.0.1", policy=policy).code == "blocked_address"


def test_metadata_address_needs_its_exact_entry():
    broad = FetchPolicy(allow_hosts=("169.254.0.0/16",))
    exact = FetchPolicy(allow_hosts=("169.254.169.254",))

    error = _fetch_error(check_host_allowed, "169.254.169.254", policy=broad)

    assert str(error) == (
        "169.254.169.254 resolves to 169.254.169.254, a cloud metadata service address; it can only be "
        "allowed by listing that exact address in LOUPE_FETCH_ALLOW_HOSTS."
    )
    assert check_host_allowed("169.254.1.1", policy=broad) == ["169.254.1.1"]
    assert check_host_allowed("169.254.169.254", policy=exact) == ["169.254.169.254"]


# --- local files --------------------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.bin").write_bytes(PAYLOAD)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret")
    (tmp_path / "dest").mkdir()
    return {"root": root, "tmp": tmp_path, "dest": tmp_path / "dest",
            "policy": FetchPolicy(local_roots=(root,))}


def test_file_inside_a_root_is_copied(local):
    dest = local["dest"] / "copy.bin"

    written = fetch_to_file(f"file://{local['root']}/sub/a.bin", dest=dest, policy=local["policy"])

    assert (written, dest.read_bytes()) == (len(PAYLOAD), PAYLOAD)
    assert os.listdir(local["dest"]) == ["copy.bin"]


def test_file_resolves_to_its_real_path(local):
    (local["root"] / "alias.bin").symlink_to(local["root"] / "sub" / "a.bin")

    path = resolve_local_path(f"file://{local['root']}/alias.bin", policy=local["policy"])

    assert path == Path(os.path.realpath(local["root"] / "sub" / "a.bin"))
    assert head_size(f"file://{local['root']}/alias.bin", policy=local["policy"]) == len(PAYLOAD)


def test_file_dotdot_escape_is_refused(local):
    url = f"file://{local['root']}/sub/../../outside/secret.txt"

    error = _fetch_error(fetch_to_file, url, dest=local["dest"] / "x", policy=local["policy"])

    assert (error.code, str(error)) == (
        "outside_roots", f"{url} is outside the folders Loupe may read (LOUPE_LOCAL_ROOTS).",
    )
    assert os.listdir(local["dest"]) == []


def test_file_symlink_out_of_the_root_is_refused(local):
    (local["root"] / "link.txt").symlink_to(local["tmp"] / "outside" / "secret.txt")
    (local["root"] / "linkdir").symlink_to(local["tmp"] / "outside")

    for url in (f"file://{local['root']}/link.txt", f"file://{local['root']}/linkdir/secret.txt"):
        error = _fetch_error(fetch_to_file, url, dest=local["dest"] / "x", policy=local["policy"])
        assert error.code == "outside_roots"
    assert os.listdir(local["dest"]) == []


def test_file_percent_encoded_path_is_decoded(local):
    (local["root"] / "my file #1 é.bin").write_bytes(b"encoded")
    url = "file://" + quote(f"{local['root']}/my file #1 é.bin")

    assert fetch_to_file(url, dest=local["dest"] / "e.bin", policy=local["policy"]) == 7
    assert (local["dest"] / "e.bin").read_bytes() == b"encoded"


def test_file_missing_is_not_found_but_only_inside_roots(local):
    inside = _fetch_error(resolve_local_path, f"file://{local['root']}/nope.bin", policy=local["policy"])
    folder = _fetch_error(resolve_local_path, f"file://{local['root']}/sub", policy=local["policy"])
    outside = _fetch_error(resolve_local_path, f"file://{local['tmp']}/outside/nope", policy=local["policy"])

    assert (inside.code, str(inside)) == ("not_found", f"file://{local['root']}/nope.bin does not exist.")
    assert (folder.code, outside.code) == ("not_found", "outside_roots")


def test_file_urls_are_off_without_roots(local):
    error = _fetch_error(resolve_local_path, f"file://{local['root']}/sub/a.bin", policy=FetchPolicy())

    assert error.code == "outside_roots"
    assert "no local roots are configured" in str(error)


def test_file_over_the_limit_is_refused_and_leaves_nothing(local):
    policy = FetchPolicy(local_roots=(local["root"],), max_bytes=1000)

    error = _fetch_error(fetch_to_file, f"file://{local['root']}/sub/a.bin", dest=local["dest"] / "a",
                         policy=policy)

    assert (error.code, str(error)) == (
        "too_large", f"file://{local['root']}/sub/a.bin is 102,400 bytes; the limit is 1,000 bytes.",
    )
    assert os.listdir(local["dest"]) == []


# --- HTTP ---------------------------------------------------------------------------------------------


def test_loopback_server_is_refused_by_default(web, tmp_path, network_guard):
    url = f"http://127.0.0.1:{web.port}/bytes"

    error = _fetch_error(fetch_to_file, url, dest=tmp_path / "a", policy=FetchPolicy(timeout=FAST))

    assert (error.code, str(error)) == (
        "blocked_address", f"{url} resolves to 127.0.0.1, a loopback address; {ALLOW_HINT}",
    )
    assert (web.seen, network_guard["connects"], os.listdir(tmp_path)) == ([], [], [])


@pytest.mark.parametrize("allow_hosts", [("127.0.0.1",), ("127.0.0.0/8",)])
def test_allowed_loopback_server_is_fetched(web, tmp_path, allow_hosts):
    dest = tmp_path / "a.bin"

    written = fetch_to_file(f"http://127.0.0.1:{web.port}/bytes", dest=dest,
                            policy=FetchPolicy(allow_hosts=allow_hosts, timeout=FAST))

    assert (written, dest.read_bytes()) == (len(PAYLOAD), PAYLOAD)
    assert web.seen == [("GET", "/bytes", f"127.0.0.1:{web.port}")]
    assert os.listdir(tmp_path) == ["a.bin"]


def test_connection_goes_to_the_vetted_address(web, tmp_path, network_guard):
    # One lookup of the name (the check); the connection is made to the address it returned.
    dest = tmp_path / "a.bin"

    fetch_to_file(f"http://localhost:{web.port}/bytes", dest=dest,
                  policy=FetchPolicy(allow_hosts=("localhost",), timeout=FAST))

    assert dest.read_bytes() == PAYLOAD
    assert network_guard["lookups"].count("localhost") == 1
    assert network_guard["connects"] == [("127.0.0.1", web.port)]
    assert web.seen == [("GET", "/bytes", f"localhost:{web.port}")]


def test_redirect_chain_is_followed(web, tmp_path):
    dest = tmp_path / "a.bin"

    written = fetch_to_file(f"http://127.0.0.1:{web.port}/hop/3", dest=dest, policy=_loopback_policy())

    assert (written, dest.read_bytes()) == (len(PAYLOAD), PAYLOAD)
    assert [path for _, path, _ in web.seen] == ["/hop/3", "/hop/2", "/hop/1", "/hop/0", "/bytes"]


def test_too_many_redirects_is_an_error(web, tmp_path):
    url = f"http://127.0.0.1:{web.port}/hop/3"

    error = _fetch_error(fetch_to_file, url, dest=tmp_path / "a", policy=_loopback_policy(max_redirects=2))

    assert (error.code, str(error)) == ("http_error", f"{url} redirected more than 2 times.")
    assert len(web.seen) == 3


@pytest.mark.parametrize(("target", "address", "problem"), [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "a cloud metadata service address"),
    ("http://10.0.0.1/a.jpg", "10.0.0.1", "a private address"),
    ("https://[::ffff:10.0.0.1]:8443/a.jpg", "::ffff:10.0.0.1", "a private address"),
])
def test_redirect_to_a_blocked_address_is_refused_before_connecting(web, tmp_path, network_guard, target,
                                                                    address, problem):
    url = f"http://127.0.0.1:{web.port}/to?url={quote(target, safe='')}"

    error = _fetch_error(fetch_to_file, url, dest=tmp_path / "a", policy=_loopback_policy())

    assert error.code == "blocked_address"
    assert str(error).startswith(f"{target} resolves to {address}, {problem}; ")
    assert network_guard["connects"] == [("127.0.0.1", web.port)]
    assert len(web.seen) == 1 and os.listdir(tmp_path) == []


def test_every_redirect_hop_is_checked_again(web, tmp_path):
    # 'localhost' is allowed by name; the hop to 127.0.0.2 (another name, another address) is not.
    url = f"http://localhost:{web.port}/to?url=http://127.0.0.2:{web.port}/bytes"

    error = _fetch_error(fetch_to_file, url, dest=tmp_path / "a",
                         policy=FetchPolicy(allow_hosts=("localhost",), timeout=FAST))

    assert error.code == "blocked_address"
    assert len(web.seen) == 1


def test_redirect_to_a_file_url_is_refused(web, tmp_path):
    url = f"http://127.0.0.1:{web.port}/to?url=file:///etc/passwd"

    error = _fetch_error(fetch_to_file, url, dest=tmp_path / "a", policy=_loopback_policy())

    assert (error.code, str(error)) == (
        "bad_url",
        f"{url} redirects to file:///etc/passwd, which is not an http(s) URL, so it is not followed.",
    )


def test_missing_object_is_not_found(web, tmp_path):
    url = f"http://127.0.0.1:{web.port}/missing"

    error = _fetch_error(fetch_to_file, url, dest=tmp_path / "a", policy=_loopback_policy())

    assert (error.code, error.status, str(error)) == ("not_found", 404, f"{url} was not found (HTTP 404).")
    assert os.listdir(tmp_path) == []


def test_server_error_is_an_http_error(web, tmp_path):
    url = f"http://127.0.0.1:{web.port}/broken"

    error = _fetch_error(fetch_to_file, url, dest=tmp_path / "a", policy=_loopback_policy())

    assert (error.code, error.status, str(error)) == (
        "http_error", 500, f"{url} answered HTTP 500 Internal Server Error.",
    )


def test_declared_size_over_the_limit_is_refused_before_download(web, tmp_path):
    url = f"http://127.0.0.1:{web.port}/huge"

    error = _fetch_error(fetch_to_file, url, dest=tmp_path / "a", policy=_loopback_policy())

    assert (error.code, str(error)) == (
        "too_large", f"{url} is 1,000,000,000,000 bytes; the limit is 5,368,709,120 bytes.",
    )
    assert os.listdir(tmp_path) == []


def test_undeclared_body_over_the_limit_stops_and_leaves_nothing(web, tmp_path):
    url = f"http://127.0.0.1:{web.port}/unsized"

    error = _fetch_error(fetch_to_file, url, dest=tmp_path / "a", policy=_loopback_policy(max_bytes=100_000))

    assert (error.code, str(error)) == ("too_large", f"{url} is larger than the 100,000-byte limit.")
    assert os.listdir(tmp_path) == []


def test_undeclared_body_within_the_limit_is_fetched(web, tmp_path):
    written = fetch_to_file(f"http://127.0.0.1:{web.port}/unsized", dest=tmp_path / "u",
                            policy=_loopback_policy())

    assert written == UNSIZED_BODY_BYTES == (tmp_path / "u").stat().st_size


@pytest.mark.parametrize(("path", "message"), [
    ("/slow-headers", "did not send data for 0.5 s."),
    ("/slow-body", "did not send data for 0.5 s."),
])
def test_slow_server_times_out(web, tmp_path, path, message):
    url = f"http://127.0.0.1:{web.port}{path}"
    started = time.monotonic()

    error = _fetch_error(fetch_to_file, url, dest=tmp_path / "a", policy=_loopback_policy())

    assert (error.code, str(error)) == ("timeout", f"{url} {message}")
    assert time.monotonic() - started < 3
    assert os.listdir(tmp_path) == []


def test_closed_port_is_unreachable(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/a"

    error = _fetch_error(fetch_to_file, url, dest=tmp_path / "a", policy=_loopback_policy())

    assert (error.code, str(error)) == ("unreachable", f"{url} could not be reached (Connection refused).")


def test_head_size_reads_the_declared_size(web):
    policy = _loopback_policy()

    assert head_size(f"http://127.0.0.1:{web.port}/bytes", policy=policy) == len(PAYLOAD)
    assert head_size(f"http://127.0.0.1:{web.port}/hop/1", policy=policy) == len(PAYLOAD)
    assert head_size(f"http://127.0.0.1:{web.port}/unsized", policy=policy) is None
    assert [(method, path) for method, path, _ in web.seen] == [
        ("HEAD", "/bytes"), ("HEAD", "/hop/1"), ("HEAD", "/hop/0"), ("HEAD", "/bytes"), ("HEAD", "/unsized"),
    ]


def test_head_size_falls_back_to_a_one_byte_range(web):
    assert head_size(f"http://127.0.0.1:{web.port}/no-head", policy=_loopback_policy()) == len(PAYLOAD)
    assert [(method, path) for method, path, _ in web.seen] == [("HEAD", "/no-head"), ("GET", "/no-head")]


def test_head_size_reports_missing_and_blocked(web):
    missing = _fetch_error(head_size, f"http://127.0.0.1:{web.port}/missing", policy=_loopback_policy())
    blocked = _fetch_error(head_size, f"http://127.0.0.1:{web.port}/bytes", policy=FetchPolicy())

    assert (missing.code, blocked.code) == ("not_found", "blocked_address")


def test_ipv6_loopback_server_is_fetched(tmp_path):
    try:
        server = _serve(_Server(("::1", 0), family=socket.AF_INET6))
    except OSError:
        # Some containers have IPv6 disabled, so ::1 cannot be bound at all; the IPv4 tests cover the
        # same code path, this one only adds the AF_INET6 connect.
        pytest.skip("no IPv6 loopback on this machine (::1 cannot be bound)")
    try:
        written = fetch_to_file(f"http://[::1]:{server.port}/bytes", dest=tmp_path / "a",
                                policy=FetchPolicy(allow_hosts=("::1",), timeout=FAST))
        assert written == len(PAYLOAD)
        assert server.seen == [("GET", "/bytes", f"[::1]:{server.port}")]
    finally:
        _stop(server)


def test_https_keeps_checking_the_certificate_name(tls, tmp_path, network_guard):
    # Connected to the pinned 127.0.0.1, yet SNI and the certificate check use the URL's name.
    port = tls["localhost"].port
    policy = FetchPolicy(allow_hosts=("localhost",), timeout=FAST, ca_bundle=tls["ca"])

    written = fetch_to_file(f"https://localhost:{port}/bytes", dest=tmp_path / "a", policy=policy)

    assert (written, (tmp_path / "a").read_bytes()) == (len(PAYLOAD), PAYLOAD)
    assert network_guard["connects"] == [("127.0.0.1", port)]
    assert tls["localhost"].seen[-1] == ("GET", "/bytes", f"localhost:{port}")


def test_https_certificate_for_another_name_is_refused(tls, tmp_path):
    url = f"https://localhost:{tls['other.example'].port}/bytes"
    policy = FetchPolicy(allow_hosts=("localhost",), timeout=FAST, ca_bundle=tls["ca"])

    error = _fetch_error(fetch_to_file, url, dest=tmp_path / "a", policy=policy)

    assert (error.code, str(error)) == (
        "unreachable",
        f"{url}: the TLS connection failed (Hostname mismatch, certificate is not valid for 'localhost').",
    )
    assert os.listdir(tmp_path) == []


# --- S3 -----------------------------------------------------------------------------------------------


def test_s3_url_is_read_from_the_configured_endpoint(s3_endpoint, tmp_path):
    # The endpoint is loopback and the policy allows nothing: admin-configured endpoints are trusted.
    dest = tmp_path / "v.bin"

    written = fetch_to_file(f"s3://{BUCKET}/cam/video 1.bin", dest=dest, policy=FetchPolicy(), s3=s3_endpoint)

    assert (written, dest.read_bytes()) == (len(PAYLOAD), PAYLOAD)
    assert os.listdir(tmp_path) == ["v.bin"]


def test_s3_path_style_url_on_the_endpoint_is_read_with_its_credentials(s3_endpoint, tmp_path):
    url = f"{s3_endpoint.endpoint_url}/{BUCKET}/cam/video%201.bin"

    written = fetch_to_file(url, dest=tmp_path / "v.bin", policy=FetchPolicy(), s3=s3_endpoint)
    unmatched = _fetch_error(fetch_to_file, url, dest=tmp_path / "w.bin", policy=FetchPolicy())

    assert (written, (tmp_path / "v.bin").read_bytes()) == (len(PAYLOAD), PAYLOAD)
    assert unmatched.code == "blocked_address"  # without the integration it is just a loopback URL


def test_s3_missing_key_and_bucket_are_not_found(s3_endpoint, tmp_path):
    key = _fetch_error(fetch_to_file, f"s3://{BUCKET}/cam/nope.bin", dest=tmp_path / "a",
                       policy=FetchPolicy(), s3=s3_endpoint)
    bucket = _fetch_error(fetch_to_file, "s3://no-such-bucket/a.bin", dest=tmp_path / "a",
                          policy=FetchPolicy(), s3=s3_endpoint)
    head = _fetch_error(head_size, f"s3://{BUCKET}/cam/nope.bin", policy=FetchPolicy(), s3=s3_endpoint)

    assert (key.code, str(key)) == ("not_found", f"s3://{BUCKET}/cam/nope.bin does not exist.")
    assert (bucket.code, str(bucket)) == (
        "not_found", "s3://no-such-bucket/a.bin: the bucket no-such-bucket does not exist.",
    )
    assert head.code == "not_found"
    assert os.listdir(tmp_path) == []


def test_s3_head_size(s3_endpoint):
    assert head_size(f"s3://{BUCKET}/cam/video 1.bin", policy=FetchPolicy(), s3=s3_endpoint) == len(PAYLOAD)


def test_s3_object_over_the_limit_is_refused(s3_endpoint, tmp_path):
    url = f"s3://{BUCKET}/cam/video 1.bin"

    error = _fetch_error(fetch_to_file, url, dest=tmp_path / "a", policy=FetchPolicy(max_bytes=1000),
                         s3=s3_endpoint)

    assert (error.code, str(error)) == ("too_large", f"{url} is 102,400 bytes; the limit is 1,000 bytes.")
    assert os.listdir(tmp_path) == []


def test_s3_unreachable_endpoint(tmp_path):
    credentials = S3Credentials(endpoint_url=f"http://127.0.0.1:{_free_port()}", region="us-east-1",
                                access_key_id="testing", secret_access_key="testing")

    error = _fetch_error(fetch_to_file, f"s3://{BUCKET}/a", dest=tmp_path / "a",
                         policy=FetchPolicy(timeout=FAST), s3=credentials)

    assert (error.code, str(error)) == (
        "unreachable", f"s3://{BUCKET}/a: the S3 endpoint could not be reached.",
    )


@pytest.mark.parametrize("credentials", [None, S3Credentials(endpoint_url="http://127.0.0.1:9")])
def test_s3_without_credentials_never_uses_the_default_chain(credentials, tmp_path):
    with pytest.raises(FetchError) as caught:
        fetch_to_file("s3://bucket/key.jpg", dest=tmp_path / "out", policy=FetchPolicy(), s3=credentials)
    assert caught.value.code == "s3_error"
    assert str(caught.value) == "s3://bucket/key.jpg needs an S3 storage integration with credentials."
    assert not (tmp_path / "out").exists()
