"""Item pages (a viewer per type, facts, metadata, rename/move/trash) and the views that serve bytes.

Every view looks the item up with ``item_get_for``: unknown or invisible items are a 404.

Serving content (``/items/<uuid>/content``), by URL kind:
* ``file://`` — streamed from the confined local file, with HTTP Range support (206 + Content-Range)
  so video and audio elements can seek. A path outside the local roots answers **403 with the
  reason** as text: the user can already see the item, so the refusal reveals nothing new, and the
  reason (e.g. "outside the folders Loupe may read (LOUPE_LOCAL_ROOTS)") tells an admin what to change.
  A missing file is a 404 with its reason.
* ``http(s)://`` — a 302 to the URL: the browser loads it, the server never fetches it here.
* ``s3://`` (and URLs on an integration's S3 endpoint) — a 302 to a presigned GET URL that expires
  after ``PRESIGN_SECONDS``.
* image sequences — their rendered MP4 from media storage, with Range support.
Client-only integrations: the page points media elements at the URLs themselves; the server never
streams their files (their ``file://`` content answers 403).

PDF pages and text are the two cases where the server reads a file for display: PDF pages are
rendered with pypdfium2 (cached in media storage), text is shown escaped, first ``TEXT_VIEW_BYTES``.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import mimetypes
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import content_disposition_header, http_date, parse_http_date_safe
from django.views.decorators.http import require_GET, require_POST, require_safe

from apps.core.errors import ServiceValidationError
from apps.core.models import User
from apps.core.pages import form_errors, htmx_redirect
from apps.storage import hooks, selectors
from apps.storage.fetching import FetchError, _open_confined, parse_object_url
from apps.storage.forms import ItemForm, ItemMoveForm
from apps.storage.models import FolderRole, Item, ItemType
from apps.storage.permissions import folder_get_for, folder_role
from apps.storage.previews import _PDFIUM_LOCK
from apps.storage.probing import ProbeError, detect_text_encoding
from apps.storage.selectors_items import item_children, item_get_for
from apps.storage.services import items as item_services
from apps.storage.services.integrations import fetch_policy, s3_credentials, upload_object_foreign
from apps.storage.services.media_files import FOREIGN_UPLOAD, url_file_to_local
from apps.storage.signed_links import item_content_token_claims
from apps.storage.views import form_fragment

CHUNK_BYTES = 256 * 1024  # streamed content: one read per chunk, bounded memory per request
PRESIGN_SECONDS = 300  # presigned S3 URLs are for the page being viewed, not for sharing
TEXT_VIEW_BYTES = 200 * 1024
# A page view downloads a remote text or PDF file whole; bigger ones are not fetched for display.
VIEW_FETCH_MAX_BYTES = 200 * 1024 * 1024
PDF_PAGE_SCALE = 2.0  # 144 dpi: sharp on high-density screens
PDF_PAGE_MAX_EDGE = 2400  # pixels; huge pages (posters, plans) are scaled down to this
# Served inline; anything else is sent as a download so a registered file cannot run as a page here.
INLINE_TYPES = re.compile(
    r"^(image/(?!svg)[\w.+-]+|video/[\w.+-]+|audio/[\w.+-]+|application/pdf|text/plain)$"
)
_BYTE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
CHILD_TYPES = {ItemType.IMAGE_GROUP, ItemType.IMAGE_SEQUENCE, ItemType.DICOM_SERIES}


# --------------------------------------------------------------------------- byte ranges


class _FileRange:
    """Iterates ``length`` bytes of ``handle`` from ``start``; closing it closes the file."""

    def __init__(self, handle, start: int, length: int):
        self.handle, self.start, self.length = handle, start, length

    def __iter__(self):
        self.handle.seek(self.start)
        remaining = self.length
        while remaining > 0:
            chunk = self.handle.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk

    def close(self) -> None:
        self.handle.close()


def _if_range_allows(request, etag: str, last_modified: int | None) -> bool:
    """A Range applies unless If-Range names another version of the file (RFC 9110 13.1.5)."""
    condition = request.headers.get("If-Range", "").strip()
    if not condition:
        return True
    if condition.startswith(('"', "W/")):
        return bool(etag) and condition == etag
    return last_modified is not None and parse_http_date_safe(condition) == last_modified


def _byte_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(first, last) byte of a single satisfiable range, "unsatisfiable", or None to send it all.

    Malformed headers and multi-range requests are answered with the whole file, which RFC 9110
    allows; a range starting past the end is unsatisfiable (416).
    """
    match = _BYTE_RANGE.fullmatch(header.strip())
    if match is None or not (match[1] or match[2]):
        return None
    if not match[1]:  # suffix: the last N bytes
        suffix = int(match[2])
        return (max(size - suffix, 0), size - 1) if suffix and size else "unsatisfiable"
    first = int(match[1])
    last = int(match[2]) if match[2] else None
    if last is not None and last < first:
        return None
    if first >= size:
        return "unsatisfiable"
    return first, size - 1 if last is None else min(last, size - 1)


def ranged_file_response(
    request, handle, *, size: int, content_type: str, etag: str = "", last_modified: int | None = None,
    filename: str = "", as_attachment: bool = False,
):
    """A streaming response for an open binary file that honours a single HTTP byte range.

    Django's FileResponse always sends the whole file; video elements need 206 answers to seek.
    The handle is closed when the response is closed.
    """
    start, length, status = 0, size, 200
    header = request.headers.get("Range", "")
    if header and _if_range_allows(request, etag, last_modified):
        wanted = _byte_range(header, size)
        if wanted == "unsatisfiable":
            handle.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        if wanted is not None:
            start, last = wanted
            length, status = last - start + 1, 206
    body = _FileRange(handle, start, length)
    if request.method == "HEAD":
        body.close()
        body = []
    response = StreamingHttpResponse(body, status=status, content_type=content_type)
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    if etag:
        response["ETag"] = etag
    if last_modified is not None:
        response["Last-Modified"] = http_date(last_modified)
    if filename or as_attachment:
        response["Content-Disposition"] = content_disposition_header(as_attachment, filename or "download")
    return response


def _storage_response(request, name: str, *, content_type: str = "", max_age: int = 300):
    """A file from media storage (previews, frames, rendered sequences); 404 when it is missing."""
    if not name or not default_storage.exists(name):
        raise Http404("No such file.")
    modified = int(default_storage.get_modified_time(name).timestamp())
    size = default_storage.size(name)
    response = ranged_file_response(
        request, default_storage.open(name, "rb"), size=size,
        content_type=content_type or mimetypes.guess_type(name)[0] or "application/octet-stream",
        etag=f'"{modified:x}-{size:x}"', last_modified=modified,
    )
    response["Cache-Control"] = f"private, max-age={max_age}"
    return response


# --------------------------------------------------------------------------- reading item files


def _client_only(item: Item) -> bool:
    return bool(item.integration and item.integration.client_only)


def _s3_endpoints(item: Item) -> tuple[str, ...]:
    credentials = s3_credentials(item.integration)
    return (credentials.endpoint_url,) if credentials and credentials.endpoint_url else ()


@contextlib.contextmanager
def _item_file(item: Item):
    """An open binary handle on the item's bytes: the confined local file, or a temporary download.

    Raises FetchError with the reason when the file may not or cannot be read.
    """
    if _client_only(item):
        raise FetchError("bad_url", "This file is in a client-only storage integration: "
                                    "Loupe never reads it.")
    parsed = parse_object_url(item.url, s3_endpoints=_s3_endpoints(item))
    if parsed.kind == "file":
        with _open_confined(item.url, fetch_policy(organisation_id=item.organisation_id)) as handle:
            yield handle
        return
    if item.file_size is not None and item.file_size > VIEW_FETCH_MAX_BYTES:
        raise FetchError("too_large", f"{item.url} is {item.file_size:,} bytes; pages show files of at most "
                                      f"{VIEW_FETCH_MAX_BYTES:,} bytes from remote storage.")
    with tempfile.TemporaryDirectory(prefix="loupe-view-") as directory:
        # The workers' copy rule: s3:// only with the item's own integration keys, never the server's.
        local = url_file_to_local(url=item.url, integration=item.integration, directory=Path(directory),
                                  organisation_id=item.organisation_id)
        with local.open("rb") as handle:
            yield handle


def _presigned_url(item: Item, parsed) -> str:
    import boto3
    from botocore.config import Config

    credentials = s3_credentials(item.integration)
    if credentials is None or not credentials.access_key_id or not credentials.secret_access_key:
        # boto3 would otherwise sign with the server's own credentials (environment, instance role),
        # handing out any object the server can read.
        raise FetchError("s3_error", f"{item.url} cannot be opened: its S3 integration has no access key.")
    options = {"s3": {"addressing_style": "path"}} if credentials.endpoint_url else {}
    client = boto3.session.Session().client(
        "s3", endpoint_url=credentials.endpoint_url, region_name=credentials.region or parsed.region,
        aws_access_key_id=credentials.access_key_id, aws_secret_access_key=credentials.secret_access_key,
        config=Config(signature_version="s3v4", **options),
    )
    return client.generate_presigned_url(
        "get_object", Params={"Bucket": parsed.bucket, "Key": parsed.key}, ExpiresIn=PRESIGN_SECONDS
    )


def _refused(exc: FetchError):
    status = {"not_found": 404, "bad_url": 404, "outside_roots": 403, "s3_error": 403}.get(exc.code, 502)
    return HttpResponse(exc.message, status=status, content_type="text/plain; charset=utf-8")


def _content_type(item: Item, path: str) -> str:
    content_type = item.mime_type or mimetypes.guess_type(path)[0] or "application/octet-stream"
    if content_type == "text/plain" and item.media_info.get("encoding"):
        content_type = f"text/plain; charset={item.media_info['encoding'].removesuffix('-sig')}"
    return content_type


def _local_content(request, item: Item):
    try:
        handle = _open_confined(item.url, fetch_policy(organisation_id=item.organisation_id))
    except FetchError as exc:
        return _refused(exc)
    stat = os.fstat(handle.fileno())
    path = urlsplit(item.url).path
    content_type = _content_type(item, path)
    inline = bool(INLINE_TYPES.match(content_type.split(";")[0]))
    response = ranged_file_response(
        request, handle, size=stat.st_size,
        content_type=content_type if inline else "application/octet-stream",
        etag=f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"', last_modified=int(stat.st_mtime),
        filename=Path(path).name, as_attachment=not inline,
    )
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, max-age=300"
    return response


@require_safe
def item_content(request, pk):
    """The item's bytes, or a redirect to where the browser can load them (see the module docstring)."""
    return _content_response(request, item_get_for(user=request.user, pk=pk))


@login_not_required
@require_safe
def item_content_signed(request, token):
    """The same, for a time-limited link (``signed_links``): the token is the permission, so no login."""
    claims = item_content_token_claims(token)
    item = None
    if claims is not None:
        pk, user_pk = claims
        # Only while the user it was issued to may still read it (a token naming no user is refused).
        issued_to = User.objects.filter(pk=user_pk).first() if user_pk is not None else None
        item = (Item.objects.select_related("folder", "integration")
                .filter(pk=pk, deleted_at__isnull=True, folder__deleted_at__isnull=True)
                .visible_to(issued_to).first())
    if item is None:
        raise Http404("This link is invalid or has expired.")
    return _content_response(request, item)


def _content_response(request, item: Item):
    if item.item_type == ItemType.IMAGE_SEQUENCE:
        return _storage_response(request, item.rendered, content_type="video/mp4")
    if item.is_container or not item.url:
        raise Http404("This item has no file of its own.")
    try:
        parsed = parse_object_url(item.url, s3_endpoints=_s3_endpoints(item))
    except FetchError as exc:
        return _refused(exc)
    if parsed.kind == "file":
        if _client_only(item):
            return _refused(FetchError("outside_roots", "This file is in a client-only integration: "
                                                        "Loupe never reads it."))
        return _local_content(request, item)
    if parsed.kind == "s3" and (parsed.scheme == "s3" or s3_credentials(item.integration) is not None):
        if upload_object_foreign(parsed, organisation_id=item.organisation_id):
            return _refused(FetchError("outside_roots", FOREIGN_UPLOAD.format(url=item.url)))
        try:
            return HttpResponseRedirect(_presigned_url(item, parsed))
        except FetchError as exc:
            return _refused(exc)
    return HttpResponseRedirect(item.url)


@require_safe
def item_preview(request, pk):
    """The item's thumbnail from media storage; 404 while it has none."""
    item = item_get_for(user=request.user, pk=pk)
    return _storage_response(request, item.preview)


@require_safe
def item_frame(request, pk, index):
    """Picture ``index`` of a video's frame strip (``preview_frames``)."""
    item = item_get_for(user=request.user, pk=pk)
    frames = item.preview_frames or []
    if not 0 <= index < len(frames) or not isinstance(frames[index], dict):
        raise Http404("No such frame.")
    return _storage_response(request, str(frames[index].get("path") or ""), max_age=3600)


@require_safe
def item_waveform(request, pk):
    """An audio item's waveform picture (``media_info["waveform"]``)."""
    item = item_get_for(user=request.user, pk=pk)
    return _storage_response(request, _waveform(item)[0])


def _render_pdf_page(handle, number: int) -> bytes:
    """PNG bytes of page ``number`` (1-based) at PDF_PAGE_SCALE, the long edge capped."""
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:  # PDFium is not thread-safe; previews share this lock
        document = pdfium.PdfDocument(handle)
        try:
            if not 1 <= number <= len(document):
                raise Http404(f"This PDF has {len(document)} pages.")
            page = document[number - 1]
            width, height = page.get_size()
            scale = min(PDF_PAGE_SCALE, PDF_PAGE_MAX_EDGE / max(width, height))
            image = page.render(scale=scale).to_pil().convert("RGB")
        finally:
            document.close()
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if image.size != size:  # PDFium rounds bitmap sizes its own way
        image = image.resize(size)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@require_safe
def item_pdf_page(request, pk, number):
    """Page ``number`` of a PDF as PNG, rendered on first request and cached in media storage."""
    item = item_get_for(user=request.user, pk=pk)
    if item.item_type != ItemType.PDF or number < 1:
        raise Http404("No such page.")
    name = f"pdf-pages/{item.pk}/{number}.png"
    if not default_storage.exists(name):
        try:
            with _item_file(item) as handle:
                png = _render_pdf_page(handle, number)
        except FetchError as exc:
            return _refused(exc)
        except Http404:
            raise
        except Exception as exc:  # PdfiumError on damaged files
            return HttpResponse(f"pypdfium2 cannot render page {number}: {exc}", status=422,
                                content_type="text/plain; charset=utf-8")
        if not default_storage.exists(name):
            default_storage.save(name, ContentFile(png))
    return _storage_response(request, name, content_type="image/png", max_age=3600)


@require_GET
def item_text(request, pk):
    """The first TEXT_VIEW_BYTES of a text item, decoded and escaped (an htmx fragment)."""
    item = item_get_for(user=request.user, pk=pk)
    if item.item_type != ItemType.TEXT:
        raise Http404("Not a text item.")
    context = {"item": item, "text": "", "truncated": False, "reason": ""}
    try:
        with _item_file(item) as handle:
            head = handle.read(TEXT_VIEW_BYTES + 1)
        context["truncated"] = len(head) > TEXT_VIEW_BYTES
        head = head[:TEXT_VIEW_BYTES]
        encoding = (item.media_info.get("encoding")
                    or detect_text_encoding(head, complete=not context["truncated"])[0])
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        context["text"] = decoder.decode(head, final=not context["truncated"])
    except FetchError as exc:
        context["reason"] = exc.message
        if exc.code == "too_large" and item.media_info.get("snippet"):
            context.update(text=item.media_info["snippet"], truncated=True, reason="")
    except (ProbeError, LookupError) as exc:
        context["reason"] = str(exc)
    return render(request, "storage/item.html#text-content", context)


# --------------------------------------------------------------------------- the item page


def item_thumbnail_url(item: Item) -> str:
    """Where a grid or strip loads the item's picture; empty means "show the type's placeholder"."""
    if item.preview:
        return reverse("storage:item-preview", args=[item.pk])
    web_url = item.url.startswith(("http://", "https://"))
    if _client_only(item) and item.item_type == ItemType.IMAGE and web_url:
        return item.url  # client-only: the browser loads it straight from the source
    return ""


def _media_url(item: Item) -> str:
    """What media elements load: the source URL for client-only http(s) files, else the content view."""
    if _client_only(item) and item.url.startswith(("http://", "https://")):
        return item.url
    return reverse("storage:item-content", args=[item.pk])


def _waveform(item: Item) -> tuple[str, list[float]]:
    """(storage path of the waveform picture, column peaks) from ``media_info["waveform"]``.

    The worker stores either a path, a list of peaks, or ``{"path": ..., "peaks": [...]}``.
    """
    waveform = item.media_info.get("waveform")
    if isinstance(waveform, str):
        return waveform, []
    if isinstance(waveform, list):
        return "", [float(p) for p in waveform if isinstance(p, int | float)]
    if isinstance(waveform, dict):
        peaks = waveform.get("peaks") or []
        return str(waveform.get("path") or waveform.get("image") or ""), [
            float(p) for p in peaks if isinstance(p, int | float)
        ]
    return "", []


def _waveform_svg_path(peaks: list[float]) -> str:
    """One vertical bar per peak in a 0..100 high box, mirrored about the middle."""
    return "".join(f"M{i} {50 - 50 * min(p, 1):.1f}V{50 + 50 * min(p, 1):.1f}" for i, p in enumerate(peaks))


def _dicom_tag(item: Item, name: str):
    for source in (item.media_info, item.media_info.get("tags") or {}, item.media_info.get("dicom") or {}):
        if isinstance(source, dict) and source.get(name) is not None:
            return source[name]
    return None


def _dicom_slices(item: Item, children: list[Item]) -> list[dict]:
    """The series' slices in ``media_info["slice_order"]`` order (child uuids or positions)."""
    by_key = {str(child.pk): child for child in children} | {child.position: child for child in children}
    ordered = []
    for key in item.media_info.get("slice_order") or []:
        if isinstance(key, dict):
            key = key.get("uuid") or key.get("item") or key.get("position")
        child = by_key.get(key if isinstance(key, int) else str(key))
        if child is not None and child not in ordered:
            ordered.append(child)
    ordered += [child for child in children if child not in ordered]
    return [{
        "name": child.name, "href": child.get_absolute_url(), "src": item_thumbnail_url(child),
        "center": _first_set(_dicom_tag(child, "window_center"), _dicom_tag(item, "window_center")),
        "width": _first_set(_dicom_tag(child, "window_width"), _dicom_tag(item, "window_width")),
        "instance": _dicom_tag(child, "instance_number"),
    } for child in ordered]


def _first_set(*values):
    return next((value for value in values if value is not None), None)


FACT_FIELDS = [
    ("mime_type", "MIME type"), ("width", "Width"), ("height", "Height"), ("fps", "Frame rate"),
    ("duration", "Duration (s)"), ("frame_count", "Frames"), ("codec", "Codec"),
    ("audio_sample_rate", "Sample rate (Hz)"), ("audio_bit_depth", "Bit depth"),
    ("audio_num_channels", "Channels"), ("page_count", "Pages"), ("dicom_study_uid", "Study UID"),
    ("dicom_series_uid", "Series UID"), ("dicom_instance_uid", "Instance UID"),
    ("media_source", "Facts from"),
]
HIDDEN_MEDIA_INFO = {"waveform", "slice_order"}


def _facts(item: Item) -> list[tuple[str, object]]:
    facts = [("Type", item.get_item_type_display())]
    if item.file_size is not None:
        facts.append(("Size (bytes)", f"{item.file_size:,}"))
    facts += [
        (label, getattr(item, name)) for name, label in FACT_FIELDS if getattr(item, name) not in (None, "")
    ]
    for key, value in sorted(item.media_info.items()):
        if key not in HIDDEN_MEDIA_INFO and not isinstance(value, dict | list) and value not in (None, ""):
            facts.append((key.replace("_", " ").capitalize(), value))
    if item.url:
        facts.append(("URL", item.url))
    return facts


def _move_choices(request, item: Item) -> list[tuple[str, str]]:
    folders = list(selectors.folder_list(user=request.user).filter(organisation_id=item.organisation_id))
    names = {folder.pk: folder.name for folder in folders}
    labels = [
        (str(folder.pk), " / ".join([*(names[p] for p in folder.path if p in names), folder.name]))
        for folder in folders if folder.pk != item.folder_id
    ]
    return sorted(labels, key=lambda choice: choice[1].lower())


def _viewer_context(item: Item, children: list[Item]) -> dict:
    context: dict = {"media_url": _media_url(item), "client_only": _client_only(item)}
    if item.item_type == ItemType.VIDEO:
        context["frames"] = [
            {"index": i, "frame": f.get("frame"), "time": f.get("time") or 0,
             "src": reverse("storage:item-frame", args=[item.pk, i])}
            for i, f in enumerate(item.preview_frames or []) if isinstance(f, dict)
        ]
    elif item.item_type == ItemType.AUDIO:
        path, peaks = _waveform(item)
        context["waveform_url"] = reverse("storage:item-waveform", args=[item.pk]) if path else ""
        context["waveform_path"] = _waveform_svg_path(peaks)
        context["waveform_columns"] = len(peaks)
    elif item.item_type == ItemType.DICOM_SERIES:
        context["slices"] = _dicom_slices(item, children)
    if item.item_type in CHILD_TYPES:
        context["members"] = [{"item": child, "src": item_thumbnail_url(child)} for child in children]
    return context


def _pdf_context(request, item: Item) -> dict:
    try:
        number = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        number = 1
    if item.page_count:
        number = min(number, item.page_count)
    return {"page_number": number, "page_count": item.page_count,
            "page_src": reverse("storage:item-pdf-page", args=[item.pk, number])}


def _member_walk(item: Item) -> dict:
    """Previous/next through the members of the group, sequence or series ``item`` belongs to."""
    if item.position is None:
        return {}
    siblings = item_children(item=item.parent)
    previous = siblings.filter(position__lt=item.position).order_by("-position").first()
    following = siblings.filter(position__gt=item.position).first()
    return {"walk": {
        "previous": previous.get_absolute_url() if previous else "",
        "next": following.get_absolute_url() if following else "",
        "back": item.parent.get_absolute_url(),
        "back_label": f"back to {item.parent.display_name}",
    }}


def item_viewer_context(request, item: Item) -> dict:
    """What the ``viewer`` partial of storage/item.html needs for ``item`` (the item page and the
    Explorer's side panel render the same viewer)."""
    children = list(item_children(item=item)) if item.is_container else []
    return {**_viewer_context(item, children),
            **(_pdf_context(request, item) if item.item_type == ItemType.PDF else {})}


@require_GET
def item_detail(request, pk):
    item = item_get_for(user=request.user, pk=pk)
    if request.htmx and request.htmx.target == "pdf-pager":
        return render(request, "storage/item.html#pdf-pager", {"item": item, **_pdf_context(request, item)})
    role = folder_role(user=request.user, folder=item.folder)
    can_edit = FolderRole.rank(role) >= FolderRole.rank(FolderRole.EDITOR)
    return render(request, "storage/item.html", {
        "item": item,
        "can_edit": can_edit,
        "breadcrumbs": selectors.folder_breadcrumbs(folder=item.folder),
        "facts": _facts(item),
        **hooks.item_page_metadata_context(request, item, can_edit=can_edit),  # metadata card, history, frames
        **(_member_walk(item) if item.parent_id else hooks.item_page_neighbours(request, item)),  # previous/next
        **hooks.item_page_similar(request, item),  # "more like this" in the Explorer
        "rename_form": ItemForm(initial={"name": item.name, "description": item.description}),
        "move_form": ItemMoveForm(choices=_move_choices(request, item)),
        **item_viewer_context(request, item),
    })


@require_POST
def item_rename(request, pk):
    item = item_get_for(user=request.user, pk=pk, role=FolderRole.EDITOR)
    form = ItemForm(request.POST)
    if form.is_valid():
        try:
            item_services.item_update(user=request.user, item=item, **form.cleaned_data)
            return htmx_redirect(request, item.get_absolute_url())
        except ServiceValidationError as exc:
            form_errors(form, exc)
    return form_fragment(request, form, submit_label="Save")


@require_POST
def item_move(request, pk):
    item = item_get_for(user=request.user, pk=pk, role=FolderRole.EDITOR)
    form = ItemMoveForm(request.POST, choices=_move_choices(request, item))
    if form.is_valid():
        destination = folder_get_for(user=request.user, pk=form.cleaned_data["folder"])
        try:
            item_services.items_move(user=request.user, items=[item], destination=destination)
            messages.success(request, f"Moved '{item.name}' to '{destination.name}'.")
            return htmx_redirect(request, item.get_absolute_url())
        except ServiceValidationError as exc:
            form_errors(form, exc)
    return form_fragment(request, form, submit_label="Move")


@require_POST
def item_delete(request, pk):
    item = item_get_for(user=request.user, pk=pk, role=FolderRole.EDITOR)
    try:
        item_services.items_trash(user=request.user, items=[item])
    except ServiceValidationError as exc:
        messages.error(request, " ".join(m for msgs in exc.message_dict.values() for m in msgs))
        return htmx_redirect(request, item.get_absolute_url())
    messages.success(request, f"'{item.name}' moved to the trash.")
    return htmx_redirect(request, item.folder.get_absolute_url())


@require_POST
def item_restore(request, pk):
    item = item_get_for(user=request.user, pk=pk, role=FolderRole.EDITOR, include_trashed=True)
    try:
        item_services.items_restore(user=request.user, items=[item])
        messages.success(request, f"'{item.name}' restored.")
    except ServiceValidationError as exc:
        messages.error(request, " ".join(m for msgs in exc.message_dict.values() for m in msgs))
    return htmx_redirect(request, reverse("storage:trash"))
