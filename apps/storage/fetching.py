"""Read the objects that Loupe items point at, safely, for probing and thumbnails.

An object URL is one of ``file:///abs/path``, ``http(s)://...``, ``s3://bucket/key`` or an S3 HTTPS URL
(virtual-hosted ``https://bucket.s3.<region>.amazonaws.com/key``, path-style
``https://s3.<region>.amazonaws.com/bucket/key``, or path-style on a configured S3-compatible endpoint).

URLs come from users, so every read is confined:

* ``file://`` paths are resolved (symlinks, ``..``) and must stay inside ``FetchPolicy.local_roots``,
  or inside the tenant's own part of ``FetchPolicy.tenant_root`` (Loupe's uploads: one directory per
  organisation). The tenant root and ``FetchPolicy.private_roots`` (Loupe's own media: previews, import
  files) are checked first: a local root that contains them (``/`` or ``/srv``) opens none of the
  other tenants' directories and none of Loupe's own files.
* HTTP(S) hosts are resolved and refused when any address is not public (loopback, private, link-local,
  CGNAT, metadata services, ...) unless an admin listed the host or its range in
  ``FetchPolicy.allow_hosts``. Redirects are followed by hand and every hop is vetted again, and the
  connection goes to the vetted address (see ``_PinnedAdapter``), so DNS rebinding cannot slip past.
* Bodies are streamed in chunks and capped at ``FetchPolicy.max_bytes``; a failed download leaves no file.
* S3 endpoints are not vetted: they come from integrations an admin configured, so they are trusted
  (an S3-compatible server on the private network is the normal case). A user-supplied URL only
  reaches such an endpoint when it matches one of those configured endpoints exactly.

This module is Django-free: configuration arrives as arguments (``policy_from_strings`` parses the
``LOUPE_LOCAL_ROOTS`` and ``LOUPE_FETCH_ALLOW_HOSTS`` formats; the caller reads the settings).
Every failure is a ``FetchError`` whose ``code`` is stable and whose message is a sentence for the user.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import ssl
import stat
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

import boto3
import requests
import urllib3.exceptions
from botocore import exceptions as boto_errors
from botocore.config import Config as BotoConfig
from requests.adapters import HTTPAdapter

__all__ = [
    "FETCH_ERROR_CODES",
    "FetchError",
    "FetchPolicy",
    "ParsedUrl",
    "S3Credentials",
    "check_host_allowed",
    "fetch_to_file",
    "head_size",
    "http_post",
    "parse_object_url",
    "policy_from_strings",
    "resolve_local_path",
]

CHUNK_SIZE = 1024 * 1024  # 1 MiB: few syscalls per object, bounded memory per worker
MAX_URL_BYTES = 16 * 1024  # the import format's URL limit
MESSAGE_URL_CHARS = 200  # URLs are cut to this length inside error messages
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
FETCH_ERROR_CODES = frozenset({
    "blocked_address", "outside_roots", "not_found", "too_large", "timeout",
    "http_error", "bad_url", "s3_error", "unreachable",
})
# Cloud instance-metadata and host-agent endpoints: AWS/GCP/Azure/OpenStack, AWS ECS task metadata,
# AWS IMDS over IPv6, Azure WireServer, Alibaba Cloud. They hand out credentials, so a broad CIDR or a
# host name in allow_hosts never unlocks them; only the exact address does.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "168.63.129.16", "100.100.100.200",
))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_AWS_S3_HOST = re.compile(
    r"^(?:(?P<bucket>.+)\.)?s3(?:[.-]dualstack)?(?:[.-](?P<region>[a-z]{2}(?:-[a-z]+)+-\d+))?"
    r"\.amazonaws\.com(?:\.cn)?$"
)
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_REQUEST_HEADERS = {"User-Agent": "Loupe-fetcher/1", "Accept-Encoding": "identity"}


class FetchError(Exception):
    """A URL could not be read. ``code`` is one of FETCH_ERROR_CODES; ``str(error)`` is for the user."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        if code not in FETCH_ERROR_CODES:
            raise ValueError(f"unknown FetchError code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status  # the HTTP status, for http_error and not_found from HTTP

    def __reduce__(self):
        # Workers hand errors across processes; the default reduce would lose ``code``.
        return (type(self), (self.code, self.message), {"status": self.status})


@dataclass(frozen=True)
class FetchPolicy:
    """What a fetch may touch. Build it from settings with ``policy_from_strings``."""

    local_roots: tuple[Path, ...] = ()  # allowed roots for file:// (resolved again at use)
    allow_hosts: tuple[str, ...] = ()  # host names or CIDR ranges allowed even if private/loopback
    timeout: float = 30.0  # connect timeout, and read timeout per socket read (not a total deadline)
    max_bytes: int = 5 * 1024**3  # refuse larger bodies
    max_redirects: int = 5
    ca_bundle: str | None = None  # CA file or directory for https; None means certifi's bundle
    # A directory whose top-level entries belong to tenants (MEDIA_ROOT/uploads): a path in it is
    # readable only when ``tenant_owns(<its top-level entry name>)`` is true, whatever local_roots say.
    tenant_root: Path | None = None
    tenant_owns: Callable[[str], bool] | None = field(default=None, compare=False, repr=False)
    # Readable only through a local root inside them (Loupe's own media: a local root of ``/`` opens none of it).
    private_roots: tuple[Path, ...] = ()


@dataclass(frozen=True)
class S3Credentials:
    """One S3 integration. ``None`` fields fall back to boto3's defaults (environment, instance role)."""

    endpoint_url: str | None = None  # an S3-compatible server; None means AWS
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ParsedUrl:
    """An object URL taken apart. ``kind`` is 'file', 'http' or 's3'."""

    kind: str
    url: str
    scheme: str
    path: Path | None = None  # file: the percent-decoded absolute path, not yet resolved
    host: str | None = None  # http(s): lower-case ASCII host, IPv6 without brackets
    port: int | None = None  # http(s): explicit or default port
    bucket: str | None = None  # s3
    key: str | None = None  # s3, percent-decoded for HTTPS forms
    region: str | None = None  # s3: taken from an AWS host name
    endpoint_url: str | None = None  # s3: the configured endpoint the URL matched


def policy_from_strings(
    *,
    local_roots: str | Iterable[str] = "",
    allow_hosts: str | Iterable[str] = "",
    timeout: float = 30.0,
    max_bytes: int = 5 * 1024**3,
    max_redirects: int = 5,
    ca_bundle: str | None = None,
) -> FetchPolicy:
    """Build a policy from ``LOUPE_LOCAL_ROOTS`` (absolute paths joined by ``:``) and
    ``LOUPE_FETCH_ALLOW_HOSTS`` (host names or CIDRs joined by ``,``); either may also be passed
    already split into a list, as the settings hold them. Blank entries are ignored; a relative root
    or a malformed address or CIDR raises ValueError naming the setting."""
    roots = []
    for entry in _setting_entries(local_roots, ":"):
        root = Path(entry).expanduser()
        if not root.is_absolute():
            raise ValueError(f"LOUPE_LOCAL_ROOTS entries must be absolute paths, got {entry!r}")
        roots.append(Path(os.path.realpath(root)))
    hosts = tuple(entry.lower().rstrip(".") for entry in _setting_entries(allow_hosts, ","))
    _allow_rules(hosts)  # fail at start-up, not on the first fetch
    return FetchPolicy(
        local_roots=tuple(roots), allow_hosts=hosts, timeout=timeout,
        max_bytes=max_bytes, max_redirects=max_redirects, ca_bundle=ca_bundle,
    )


def _setting_entries(value: str | Iterable[str], separator: str) -> list[str]:
    items = value.split(separator) if isinstance(value, str) else value
    return [item.strip() for item in items if item and item.strip()]


# --- parsing -----------------------------------------------------------------------------------------


def parse_object_url(url: str, *, s3_endpoints: Iterable[str] = ()) -> ParsedUrl:
    """Classify an object URL. ``s3_endpoints`` are configured S3-compatible endpoint URLs; an http(s)
    URL on one of them (same scheme, host, port and path prefix) is read path-style as bucket/key.
    S3 HTTPS URLs with a query string (presigned URLs) stay 'http': the query carries the access.
    Raises FetchError('bad_url') for empty, over-long or malformed URLs and other schemes."""
    if not isinstance(url, str) or not url.strip():
        raise FetchError("bad_url", "An object URL is required.")
    size = len(url.encode("utf-8", "surrogatepass"))
    if size > MAX_URL_BYTES:
        raise FetchError("bad_url", f"The URL is {size:,} bytes long; the limit is {MAX_URL_BYTES:,} bytes.")
    if _CONTROL_CHARS.search(url):
        raise FetchError("bad_url", f"{_short(url)} contains control characters or line breaks.")
    scheme, colon, _ = url.partition(":")
    scheme = scheme.lower()
    if scheme == "file" and colon:
        return _parse_file_url(url)
    if scheme == "s3" and colon:
        return _parse_s3_url(url)
    if scheme in DEFAULT_PORTS and colon:
        return _parse_web_url(url, scheme, tuple(s3_endpoints))
    raise FetchError(
        "bad_url", f"{_short(url)} is not a supported object URL; use file://, http(s):// or s3://."
    )


def _parse_file_url(url: str) -> ParsedUrl:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FetchError(
            "bad_url", f"{_short(url)} names the host {parts.netloc!r}; only local files (file:///path) work."
        )
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise FetchError(
            "bad_url", f"{_short(url)} contains '?' or '#'; percent-encode them in file names (%3F, %23)."
        )
    path = unquote(parts.path, errors="surrogateescape")
    if not path.startswith("/") or "\x00" in path:
        raise FetchError("bad_url", f"{_short(url)} is not an absolute file path (file:///abs/path).")
    return ParsedUrl(kind="file", url=url, scheme="file", path=Path(path))


def _parse_s3_url(url: str) -> ParsedUrl:
    # Not urlsplit: S3 keys may contain '?' and '#', and s3:// URLs carry keys unencoded.
    rest = url[3:]
    bucket, _, key = rest[2:].partition("/") if rest.startswith("//") else ("", "", "")
    if not bucket or not key:
        raise FetchError("bad_url", f"{_short(url)} is not an S3 object URL; write s3://bucket/key.")
    return ParsedUrl(kind="s3", url=url, scheme="s3", bucket=bucket, key=key)


def _parse_web_url(url: str, scheme: str, s3_endpoints: tuple[str, ...]) -> ParsedUrl:
    parts = urlsplit(url)
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise FetchError("bad_url", f"{_short(url)} has an invalid port.") from None
    if not parts.hostname or "\\" in parts.netloc or " " in parts.netloc:
        raise FetchError("bad_url", f"{_short(url)} has no valid host name.")
    host = _ascii_host(parts.hostname.rstrip("."), url)
    web = ParsedUrl(kind="http", url=url, scheme=scheme, host=host, port=port)
    if parts.query:
        return web
    for located in (_aws_location(host, parts), _endpoint_location(scheme, host, port, parts, s3_endpoints)):
        if located is not None:
            bucket, key, region, endpoint = located
            if not bucket or not key:
                raise FetchError("bad_url", f"{_short(url)} names an S3 bucket but no object key.")
            return ParsedUrl(
                kind="s3", url=url, scheme=scheme, host=host, port=port,
                bucket=bucket, key=key, region=region, endpoint_url=endpoint,
            )
    return web


def _ascii_host(host: str, url: str) -> str:
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise FetchError("bad_url", f"{_short(url)} has an invalid international host name.") from None


def _aws_location(host: str, parts: SplitResult) -> tuple[str, str, str | None, None] | None:
    match = _AWS_S3_HOST.match(host)
    if match is None:
        return None
    if match["bucket"]:
        return match["bucket"], unquote(parts.path[1:]), match["region"], None
    bucket, _, key = parts.path[1:].partition("/")
    return unquote(bucket), unquote(key), match["region"], None


def _endpoint_location(
    scheme: str, host: str, port: int, parts: SplitResult, endpoints: tuple[str, ...]
) -> tuple[str, str, None, str] | None:
    for endpoint in endpoints:
        ep = urlsplit(endpoint)
        ep_scheme = ep.scheme.lower()
        if ep_scheme not in DEFAULT_PORTS or not ep.hostname:
            continue
        same_server = (ep_scheme, ep.hostname.rstrip("."), ep.port or DEFAULT_PORTS[ep_scheme]) == (
            scheme, host, port,
        )
        prefix = ep.path.rstrip("/") + "/"
        if same_server and parts.path.startswith(prefix):
            bucket, _, key = parts.path[len(prefix):].partition("/")
            return unquote(bucket), unquote(key), None, endpoint
    return None


def _short(url: str) -> str:
    return url if len(url) <= MESSAGE_URL_CHARS else url[: MESSAGE_URL_CHARS - 3] + "..."


# --- local files -------------------------------------------------------------------------------------


def resolve_local_path(url: str, *, policy: FetchPolicy) -> Path:
    """Return the real path (symlinks and ``..`` resolved) of a file:// URL. Raises 'outside_roots'
    when it is not inside one of ``policy.local_roots`` or the tenant's own part of
    ``policy.tenant_root`` (checked before existence, so nothing is revealed about files outside:
    another tenant's file gets the same answer as ``/etc/passwd``), 'not_found' when it is missing or
    not a regular file."""
    parsed = parse_object_url(url)
    if parsed.kind != "file":
        raise FetchError("bad_url", f"{_short(url)} is not a file:// URL.")
    if not policy.local_roots and policy.tenant_root is None:
        raise FetchError("outside_roots", f"{_short(url)} cannot be read: no local roots are configured "
                                          "(LOUPE_LOCAL_ROOTS), so file:// URLs are turned off.")
    real = Path(os.path.realpath(parsed.path))
    if not _allowed(real, policy):
        raise FetchError("outside_roots", f"{_short(url)} is outside the folders Loupe may read "
                                          "(LOUPE_LOCAL_ROOTS).")
    if not real.exists():
        raise FetchError("not_found", f"{_short(url)} does not exist.")
    if not real.is_file():
        raise FetchError("not_found", f"{_short(url)} is not a regular file.")
    return real


def _real_roots(policy: FetchPolicy) -> tuple[Path, ...]:
    return tuple(Path(os.path.realpath(root)) for root in policy.local_roots)


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _allowed(real: Path, policy: FetchPolicy) -> bool:
    """Whether the resolved path ``real`` may be read: inside the tenant root only in the tenant's own
    entry (the root itself is nobody's), elsewhere inside one of the local roots."""
    if policy.tenant_root is not None:
        tenant_root = Path(os.path.realpath(policy.tenant_root))
        if _inside(real, (tenant_root,)):
            parts = real.relative_to(tenant_root).parts
            return bool(parts) and policy.tenant_owns is not None and policy.tenant_owns(parts[0])
    grants = [root for root in _real_roots(policy) if _inside(real, (root,))]
    private = [Path(os.path.realpath(root)) for root in policy.private_roots]
    private = [root for root in private if _inside(real, (root,))]
    # Inside a private root only a local root at least as specific grants (MEDIA_ROOT/datasets does;
    # ``/`` does not).
    return any(all(_inside(grant, (root,)) for root in private) for grant in grants)


def _open_confined(url: str, policy: FetchPolicy):
    """Open a file:// URL for reading, closing the gap between checking the path and opening it:
    O_NOFOLLOW refuses a last component swapped for a symlink, and on Linux the opened descriptor's
    own path (/proc/self/fd) is checked against the roots again."""
    real = resolve_local_path(url, policy=policy)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(real, flags)
    except FileNotFoundError:
        raise FetchError("not_found", f"{_short(url)} does not exist.") from None
    except PermissionError:
        raise FetchError("unreachable", f"{_short(url)} cannot be read: permission denied.") from None
    except OSError:
        raise FetchError("outside_roots", f"{_short(url)} changed while it was being opened.") from None
    try:
        opened = Path(os.readlink(f"/proc/self/fd/{fd}")) if os.path.isdir("/proc/self/fd") else real
        if not _allowed(opened, policy):
            raise FetchError("outside_roots", f"{_short(url)} changed while it was being opened.")
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FetchError("not_found", f"{_short(url)} is not a regular file.")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# --- address checks ----------------------------------------------------------------------------------


def check_host_allowed(host: str, *, policy: FetchPolicy, port: int | None = None) -> list[str]:
    """Resolve ``host`` and return its addresses, or raise FetchError('blocked_address') when any of
    them is loopback, link-local, private, unspecified, multicast, reserved, CGNAT (100.64/10), an
    IPv4 address of those kinds embedded in IPv6, or a cloud metadata service. A host named in
    ``policy.allow_hosts``, or an address inside a CIDR listed there, is allowed; metadata addresses
    only when listed exactly. An unresolvable name raises 'unreachable'."""
    return _vet_host(host, port=port, policy=policy, subject=host)


def _vet_host(host: str, *, port: int | None, policy: FetchPolicy, subject: str) -> list[str]:
    name = host.strip("[]").lower().rstrip(".")
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError("unreachable", f"{_short(subject)}: the host {name} could not be resolved "
                                        f"({getattr(exc, 'strerror', None) or exc}).") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise FetchError("unreachable", f"{_short(subject)}: the host {name} has no addresses.")
    names, networks = _allow_rules(policy.allow_hosts)
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        problem = _address_problem(address)
        if problem is None or _is_allowed(name, address, names, networks):
            continue
        hint = ("it can only be allowed by listing that exact address in LOUPE_FETCH_ALLOW_HOSTS"
                if address in METADATA_ADDRESSES else "an admin can allow it with LOUPE_FETCH_ALLOW_HOSTS")
        raise FetchError("blocked_address", f"{_short(subject)} resolves to {text}, {problem}; {hint}.")
    return addresses


def _address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why connecting to ``address`` is refused by default, or None for a public address."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata service address"
    if address.version == 6:
        # An IPv6 address can carry an IPv4 one; judge what it really reaches.
        if address.ipv4_mapped is not None:
            return _address_problem(address.ipv4_mapped)
        if address in _NAT64:
            return _address_problem(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None and (inner := _address_problem(address.sixtofour)):
            return inner
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.version == 4 and address in _CGNAT, "a shared (carrier-grade NAT) address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "a non-public address"),
    )
    return next((problem for failed, problem in checks if failed), None)


def _is_allowed(name: str, address, names: frozenset[str], networks: tuple) -> bool:
    candidates = [address]
    if address.version == 6 and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    if any(candidate in METADATA_ADDRESSES for candidate in candidates):
        return any(net.num_addresses == 1 and c in net for net in networks for c in candidates)
    return name in names or any(c in net for net in networks for c in candidates)


@lru_cache(maxsize=32)
def _allow_rules(allow_hosts: tuple[str, ...]) -> tuple[frozenset[str], tuple]:
    """Split allow_hosts into host names and networks; raise ValueError for a malformed address/CIDR."""
    names, networks = set(), []
    for entry in (e.strip().lower().rstrip(".") for e in allow_hosts):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            # Host names hold no '/' or ':' and are never all digits and dots.
            if "/" in entry or ":" in entry or re.fullmatch(r"[\d.]+", entry):
                message = f"LOUPE_FETCH_ALLOW_HOSTS: {entry!r} is not a valid address or CIDR"
                raise ValueError(message) from None
            names.add(entry)
    return frozenset(names), tuple(networks)


# --- HTTP --------------------------------------------------------------------------------------------


class _PinnedAdapter(HTTPAdapter):
    """A requests adapter that connects to an address the caller already vetted.

    Why pinning rather than check-then-connect: checking a host name and then letting urllib3 resolve
    it again leaves a window in which a hostile DNS server can answer with a public address to the
    check and with 127.0.0.1 or 169.254.169.254 to the connection (DNS rebinding). Here the name is
    resolved once, by ``_vet_host``, and this adapter swaps the pool's host for the vetted IP, so
    there is no second lookup. The URL, the Host header and, for https, SNI and certificate
    verification (``server_hostname``) keep the real name, so TLS still proves the server's identity.
    A request for any host other than the pinned one is refused, and proxies are never used.
    """

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.pin: tuple[str, str] | None = None  # (host name as in the URL, vetted IP to connect to)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        hostname = (urlsplit(request.url).hostname or "").rstrip(".")
        if self.pin is None or hostname != self.pin[0]:
            raise FetchError("blocked_address", f"{hostname} was not checked before connecting.")
        host_params["host"] = self.pin[1].split("%", 1)[0]
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = hostname
        return host_params, pool_kwargs


@contextlib.contextmanager
def _http_response(
    url: str, parsed: ParsedUrl, policy: FetchPolicy, method: str, headers: dict[str, str] | None = None
) -> Iterator[requests.Response]:
    """Send ``method`` to ``url``, following redirects by hand (every hop vetted and pinned), and
    yield the final response with its body unread. Redirects to non-http(s) URLs are refused."""
    adapter = _PinnedAdapter()
    with requests.Session() as session:
        session.trust_env = False  # no proxies or .netrc from the environment: the connection is pinned
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        current, target = url, parsed
        for _ in range(policy.max_redirects + 1):
            response = _send_pinned(session, adapter, target, current, policy, method, headers or {})
            if response.status_code not in REDIRECT_STATUSES:
                with response:
                    yield response
                return
            location = response.headers.get("Location")
            response.close()
            if not location:
                raise FetchError("http_error", f"{_short(current)} redirected without a Location.",
                                 status=response.status_code)
            current, target = _redirect_target(url, urljoin(current, location))
        raise FetchError("http_error", f"{_short(url)} redirected more than {policy.max_redirects} times.")


def _redirect_target(original: str, location: str) -> tuple[str, ParsedUrl]:
    target = parse_object_url(location)
    if target.scheme not in DEFAULT_PORTS:
        raise FetchError("bad_url", f"{_short(original)} redirects to {_short(location)}, "
                                    "which is not an http(s) URL, so it is not followed.")
    return location, target


def _send_pinned(session, adapter, target: ParsedUrl, url: str, policy: FetchPolicy, method: str,
                 headers: dict[str, str], data: bytes | None = None) -> requests.Response:
    addresses = _vet_host(target.host, port=target.port, policy=policy, subject=url)
    host = f"[{target.host}]" if ":" in target.host else target.host
    host_header = host if target.port == DEFAULT_PORTS[target.scheme] else f"{host}:{target.port}"
    failure: requests.RequestException | None = None
    for address in addresses:  # like socket.create_connection: next address only if connecting failed
        adapter.pin = (target.host, address)
        try:
            return session.request(
                method, url, headers={**_REQUEST_HEADERS, **headers, "Host": host_header},
                stream=True, allow_redirects=False, timeout=(policy.timeout, policy.timeout),
                verify=policy.ca_bundle or True, proxies={}, data=data,
            )
        except requests.RequestException as exc:
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            if not isinstance(reason, urllib3.exceptions.ConnectTimeoutError):  # includes refused
                raise _http_failure(exc, url, policy) from exc
            failure = exc
    raise _http_failure(failure, url, policy) from failure


def _http_failure(exc: Exception, url: str, policy: FetchPolicy) -> FetchError:
    subject = _short(url)
    if isinstance(exc, requests.ConnectTimeout):
        return FetchError("timeout", f"{subject} did not accept a connection within {policy.timeout:g} s.")
    read_timeout = any(isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in exc.args)
    if isinstance(exc, requests.ReadTimeout) or read_timeout:
        return FetchError("timeout", f"{subject} did not send data for {policy.timeout:g} s.")
    if isinstance(exc, requests.exceptions.SSLError):
        return FetchError("unreachable", f"{subject}: the TLS connection failed ({_reason(exc)}).")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return FetchError("http_error", f"{subject} closed the connection before the whole body arrived.")
    if isinstance(exc, requests.ConnectionError):
        return FetchError("unreachable", f"{subject} could not be reached ({_reason(exc)}).")
    return FetchError("http_error", f"{subject} could not be read ({_reason(exc)}).")


def _reason(exc: BaseException) -> str:
    """The OS- or TLS-level reason under requests' and urllib3's wrappers, e.g. 'Connection refused'."""
    current: BaseException | None = exc
    for _ in range(8):
        if isinstance(current, ssl.SSLCertVerificationError):
            return current.verify_message.rstrip(".")
        if isinstance(current, OSError) and isinstance(current.strerror, str):
            return current.strerror.rstrip(".")
        wrapped = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        following = getattr(current, "reason", None) or current.__cause__ or wrapped or current.__context__
        if not isinstance(following, BaseException):
            break
        current = following
    return str(current)[:300].rstrip(".")


def _raise_for_status(response: requests.Response, url: str) -> None:
    status = response.status_code
    if status in (404, 410):
        raise FetchError("not_found", f"{_short(url)} was not found (HTTP {status}).", status=status)
    if not 200 <= status < 300:
        answer = f"HTTP {status} {response.reason or ''}".rstrip()
        raise FetchError("http_error", f"{_short(url)} answered {answer}.", status=status)


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _fetch_http(url: str, parsed: ParsedUrl, dest: Path, policy: FetchPolicy) -> int:
    with _http_response(url, parsed, policy, "GET") as response:
        _raise_for_status(response, url)
        declared = _content_length(response)
        if declared is not None and declared > policy.max_bytes:
            raise _too_large(url, policy, declared)
        try:
            return _write_stream(response.iter_content(CHUNK_SIZE), dest=dest, policy=policy, url=url)
        except requests.RequestException as exc:
            raise _http_failure(exc, url, policy) from exc


def http_post(url: str, *, body: bytes, content_type: str, policy: FetchPolicy) -> bytes:
    """POST ``body`` to an http(s) URL under the same guard as every fetch, and return the response body.

    The host is vetted and the connection pinned to the vetted address (``check_host_allowed``,
    ``_PinnedAdapter``); ``policy.timeout`` is both the connect timeout and a deadline for the whole
    answer (a server trickling bytes cannot hold a request open past it); the body is capped at
    ``policy.max_bytes``. Redirects are not followed: a POST body is not re-sent to another address,
    so an endpoint must answer itself. A non-2xx status, a redirect, a timeout or an unreachable host
    raise ``FetchError`` with a sentence for the user.
    """
    import time

    parsed = parse_object_url(url)
    if parsed.scheme not in DEFAULT_PORTS or parsed.kind != "http":
        raise FetchError("bad_url", f"{_short(url)} is not an http(s) URL.")
    deadline = time.monotonic() + policy.timeout
    adapter = _PinnedAdapter()
    with requests.Session() as session:
        session.trust_env = False  # no proxies or .netrc from the environment: the connection is pinned
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        response = _send_pinned(session, adapter, parsed, url, policy, "POST",
                                {"Content-Type": content_type, "Accept": "application/json"}, data=body)
        with response:
            if response.status_code in REDIRECT_STATUSES:
                raise FetchError("http_error", f"{_short(url)} answered HTTP {response.status_code} (a redirect); "
                                               "redirects are not followed for a POST.", status=response.status_code)
            _raise_for_status(response, url)
            chunks, size = [], 0
            try:
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > policy.max_bytes:
                        raise _too_large(url, policy)
                    if time.monotonic() > deadline:
                        raise FetchError("timeout", f"{_short(url)} did not finish answering within "
                                                    f"{policy.timeout:g} s.")
                    chunks.append(chunk)
            except requests.RequestException as exc:
                raise _http_failure(exc, url, policy) from exc
    return b"".join(chunks)


def _head_http(url: str, parsed: ParsedUrl, policy: FetchPolicy) -> int | None:
    # Some servers (and GET-presigned S3 URLs) refuse HEAD; a one-byte ranged GET reveals the size.
    with _http_response(url, parsed, policy, "HEAD") as response:
        if response.status_code not in (403, 405, 501):
            _raise_for_status(response, url)
            return _content_length(response)
    with _http_response(url, parsed, policy, "GET", {"Range": "bytes=0-0"}) as response:
        _raise_for_status(response, url)
        if response.status_code == 206:
            total = response.headers.get("Content-Range", "").rpartition("/")[2]
            return int(total) if total.isdigit() else None
        return _content_length(response)


# --- S3 ----------------------------------------------------------------------------------------------


def _s3_client(credentials: S3Credentials | None, parsed: ParsedUrl, policy: FetchPolicy):
    # Never fall back to boto3's default credential chain: on a server that is the worker's own
    # identity (environment, instance role), which a user's s3:// URL must not borrow.
    if credentials is None or not (credentials.access_key_id and credentials.secret_access_key):
        raise FetchError("s3_error", f"{_short(parsed.url)} needs an S3 storage integration with credentials.")
    options = {"s3": {"addressing_style": "path"}} if credentials.endpoint_url else {}
    config = BotoConfig(
        connect_timeout=policy.timeout, read_timeout=policy.timeout,
        retries={"max_attempts": 2, "mode": "standard"}, **options,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=credentials.endpoint_url, region_name=credentials.region or parsed.region,
        aws_access_key_id=credentials.access_key_id, aws_secret_access_key=credentials.secret_access_key,
        config=config,
    )


def _s3_failure(exc: Exception, parsed: ParsedUrl, policy: FetchPolicy) -> FetchError:
    subject = _short(parsed.url)
    if isinstance(exc, boto_errors.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code == "NoSuchBucket":
            return FetchError("not_found", f"{subject}: the bucket {parsed.bucket} does not exist.")
        if code in ("NoSuchKey", "NotFound", "404"):
            return FetchError("not_found", f"{subject} does not exist.")
        detail = f"{code}: {error.get('Message')}" if error.get("Message") else code
        return FetchError("s3_error", f"{subject}: S3 refused the request ({detail}).")
    if isinstance(exc, (boto_errors.ConnectTimeoutError, boto_errors.ReadTimeoutError)):
        return FetchError("timeout", f"{subject}: S3 did not answer within {policy.timeout:g} s.")
    if isinstance(exc, boto_errors.EndpointConnectionError):
        return FetchError("unreachable", f"{subject}: the S3 endpoint could not be reached.")
    if isinstance(exc, boto_errors.NoCredentialsError):
        return FetchError("s3_error", f"{subject}: no S3 credentials are configured.")
    return FetchError("s3_error", f"{subject}: reading from S3 failed ({exc}).")


def _fetch_s3(parsed: ParsedUrl, dest: Path, policy: FetchPolicy, credentials: S3Credentials | None) -> int:
    client = _s3_client(credentials, parsed, policy)
    try:
        obj = client.get_object(Bucket=parsed.bucket, Key=parsed.key)
    except (boto_errors.BotoCoreError, boto_errors.ClientError) as exc:
        raise _s3_failure(exc, parsed, policy) from exc
    with contextlib.closing(obj["Body"]) as body:
        if obj.get("ContentLength", 0) > policy.max_bytes:
            raise _too_large(parsed.url, policy, obj["ContentLength"])
        try:
            return _write_stream(body.iter_chunks(CHUNK_SIZE), dest=dest, policy=policy, url=parsed.url)
        except boto_errors.BotoCoreError as exc:
            raise _s3_failure(exc, parsed, policy) from exc


def _head_s3(parsed: ParsedUrl, policy: FetchPolicy, credentials: S3Credentials | None) -> int | None:
    client = _s3_client(credentials, parsed, policy)
    try:
        return client.head_object(Bucket=parsed.bucket, Key=parsed.key).get("ContentLength")
    except (boto_errors.BotoCoreError, boto_errors.ClientError) as exc:
        raise _s3_failure(exc, parsed, policy) from exc


def _uses_s3_api(parsed: ParsedUrl, credentials: S3Credentials | None) -> bool:
    """s3:// and configured-endpoint URLs go through the S3 API. An AWS HTTPS URL does too when AWS
    credentials are configured; without them it is read as a plain (public) HTTPS URL."""
    if parsed.kind != "s3":
        return False
    if parsed.scheme == "s3" or parsed.endpoint_url is not None:
        return True
    return credentials is not None and credentials.endpoint_url is None


# --- entry points ------------------------------------------------------------------------------------


def fetch_to_file(url: str, *, dest: Path, policy: FetchPolicy, s3: S3Credentials | None = None) -> int:
    """Write the object at ``url`` to ``dest`` and return its size in bytes.

    The body is streamed in CHUNK_SIZE pieces into a hidden partial file next to ``dest`` that is
    renamed over ``dest`` only on success, so a failure (FetchError) leaves ``dest`` as it was and no
    partial file behind. ``max_bytes`` is enforced on the declared size first and again while
    streaming. ``s3`` is the integration to read s3:// URLs (and path-style URLs on its endpoint)
    with; without credentials s3:// is refused (never boto3's default chain)."""
    parsed = parse_object_url(url, s3_endpoints=_endpoints(s3))
    if parsed.kind == "file":
        with _open_confined(url, policy) as source:
            size = os.fstat(source.fileno()).st_size
            if size > policy.max_bytes:
                raise _too_large(url, policy, size)
            chunks = iter(lambda: source.read(CHUNK_SIZE), b"")
            return _write_stream(chunks, dest=dest, policy=policy, url=url)
    if _uses_s3_api(parsed, s3):
        return _fetch_s3(parsed, dest, policy, s3)
    return _fetch_http(url, parsed, dest, policy)


def head_size(url: str, *, policy: FetchPolicy, s3: S3Credentials | None = None) -> int | None:
    """The object's size in bytes without downloading it, or None when the server does not say.
    Applies the same confinement and address checks as ``fetch_to_file`` and raises the same errors."""
    parsed = parse_object_url(url, s3_endpoints=_endpoints(s3))
    if parsed.kind == "file":
        return resolve_local_path(url, policy=policy).stat().st_size
    if _uses_s3_api(parsed, s3):
        return _head_s3(parsed, policy, s3)
    return _head_http(url, parsed, policy)


def _endpoints(credentials: S3Credentials | None) -> tuple[str, ...]:
    return (credentials.endpoint_url,) if credentials and credentials.endpoint_url else ()


def _too_large(url: str, policy: FetchPolicy, size: int | None = None) -> FetchError:
    if size is None:
        return FetchError("too_large", f"{_short(url)} is larger than the {policy.max_bytes:,}-byte limit.")
    limit = f"the limit is {policy.max_bytes:,} bytes"
    return FetchError("too_large", f"{_short(url)} is {size:,} bytes; {limit}.")


def _write_stream(chunks: Iterable[bytes], *, dest: Path, policy: FetchPolicy, url: str) -> int:
    partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    written = 0
    try:
        with open(partial, "xb") as out:
            for chunk in chunks:
                written += len(chunk)
                if written > policy.max_bytes:
                    raise _too_large(url, policy)
                out.write(chunk)
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return written
