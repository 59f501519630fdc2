"""The bad-input table × the doors: every bad input sent to every door that can carry it is a 4xx
with a reason, over real HTTP, and leaves the database exactly as it was.

Doors: REST bodies (folders, item metadata, bulk metadata, schema keys, organisation members, a JSON
import), REST ids in paths, page forms (metadata JSON editor, folder rename, organisation members), a
page upload, Encord routes (bearer token). A JSON body input goes in a slot where the door accepts any
JSON value (metadata) or a string (names); path and query inputs go on every door's URL. Registration files are covered in ``test_import_file_bad_values``.
"""

from __future__ import annotations

import json
import http.client
import os
import secrets
from urllib.parse import quote_from_bytes, urlsplit

import pytest
import requests

from apps.core.models import ApiToken, Organisation, OrganisationMember, PublicKey, User
from apps.core.services import api_token_create
from apps.explorer.models import SavedView
from apps.explorer.services_views import saved_view_create
from apps.metadata.models import MetadataKey
from apps.metadata.models_jobs import MetadataJob
from apps.metadata.services.schema import schema_key_add
from apps.similarity.models import DuplicateGroup, DuplicateMember, DuplicateScan
from apps.storage.models import Folder, FolderMember, ImportJob, Item
from apps.storage.services.folders import folder_create
from tests.encord_compat.helpers import register_images

SLOT = "\u2603slot\u2603"  # where a door's body takes the bad JSON text
DEEP = "[" * 5000 + "]" * 5000
# name -> raw JSON text put in the slot (valid JSON syntax Python's json would accept)
BODY_INPUTS = {
    "deep JSON": DEEP,
    "NUL in string": '"a\\u0000b"',
    "NUL in key": '{"a\\u0000b": 1}',
    "lone surrogate": '"x\\ud800y"',
    "lone surrogate in key": '{"\\udc00": 1}',
    "1e999": "1e999",
    "-Infinity": "-Infinity",
    "NaN": "NaN",
    "huge int": "1" + "0" * 400,
}
# name -> how a door's URL is spoiled
URL_INPUTS = {
    "bad uuid in path": lambda url, ids: url.replace(f"/{ids[0]}", "/not-a-uuid", 1) if ids else None,
    "huge number in path": lambda url, ids: url.replace(f"/{ids[0]}", "/" + "9" * 30, 1) if ids else None,
    "NUL in path": lambda url, ids: url.replace(f"/{ids[0]}", f"/{ids[0]}%00", 1) if ids else url + "%00",
    "bad percent-encoding in path": lambda url, ids: url + "%zz",
    "bad UTF-8 in path": lambda url, ids: url + "%ED%A0%80",
    "bad percent-encoding in query": lambda url, ids: url + "?q=%zz",
    "truncated UTF-8 in query": lambda url, ids: url + "?q=%E2%82",
    "NUL in query": lambda url, ids: url + "?q=a%00b",
}
MODELS = (Folder, FolderMember, Item, ImportJob, MetadataKey, MetadataJob, ApiToken, PublicKey, User,
          Organisation, OrganisationMember, SavedView, DuplicateScan, DuplicateGroup, DuplicateMember)


def _database_state() -> dict:
    """Every row of the tables a door could write (small: the test's own data), less the bookkeeping
    a token's use updates (``last_used_at``)."""
    return {model.__name__: [{k: v for k, v in row.items() if k not in ("last_used_at", "last_login")}
                             for row in model.objects.order_by("pk").values()] for model in MODELS}


@pytest.fixture
def world(transactional_db, org, make_user, live_server, client):
    alice = make_user(org, email="alice@example.com", role="admin")
    folder = folder_create(user=alice, name="data", organisation=org)
    item = register_images(alice, folder, 1, {"n": 1})[0]
    token = api_token_create(user=alice, name="fuzz")[1]
    key = schema_key_add(user=alice, organisation=org, name="score", type="number")
    view = saved_view_create(user=alice, organisation=org, name="v")
    twin = register_images(alice, folder, 1, {"n": 2})[0]
    group = _duplicate_group(org, [item, twin])
    client.force_login(alice)
    csrf = secrets.token_hex(16)  # 32 characters: Django accepts an unmasked secret as the token
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    session.cookies.set("csrftoken", csrf)
    session.headers["X-CSRFToken"] = csrf
    session.headers["HX-Request"] = "true"  # as the pages' own forms send them
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"
    token_pk = ApiToken.objects.get(user=alice, name="fuzz").pk
    return {"base": live_server.url, "folder": str(folder.pk), "item": str(item.pk), "page": session,
            "api": api, "token_pk": str(token_pk), "key_pk": str(key.pk), "user_pk": str(alice.pk),
            "view": str(view.pk), "group": str(group.pk)}


def _duplicate_group(org, items):
    scan = DuplicateScan.objects.create(organisation=org, method="hash", threshold=6, status="DONE", total=1)
    group = DuplicateGroup.objects.create(scan=scan, size=len(items), distance=0)
    DuplicateMember.objects.bulk_create([DuplicateMember(group=group, item=item, distance=0) for item in items])
    return group


def _doors(w) -> list[dict]:
    """Each door: how to send a body (JSON text with SLOT, or a form), its URL and the ids in it."""
    f, i = w["folder"], w["item"]
    return [
        {"name": "REST create folder", "who": "api", "method": "POST", "url": "/api/v1/folders",
         "json": {"name": "x", "description": SLOT}},
        {"name": "REST patch folder", "who": "api", "method": "PATCH", "url": f"/api/v1/folders/{f}",
         "json": {"name": SLOT}, "ids": [f]},
        {"name": "REST merge item metadata", "who": "api", "method": "PATCH", "url": f"/api/v1/items/{i}/metadata",
         "json": {"k": SLOT}, "ids": [i]},
        {"name": "REST replace item metadata", "who": "api", "method": "PUT", "url": f"/api/v1/items/{i}/metadata",
         "json": {"deep": {"k": [SLOT]}}, "ids": [i]},
        {"name": "REST bulk metadata", "who": "api", "method": "POST", "url": "/api/v1/metadata/bulk",
         "json": {"mode": "merge", "items": {i: {"k": SLOT}}}},
        {"name": "REST schema key", "who": "api", "method": "POST", "url": "/api/v1/metadata/schema/keys",
         "json": {"name": "k", "type": "enum", "enum_values": [SLOT]}},
        {"name": "REST JSON import", "who": "api", "method": "POST", "url": f"/api/v1/folders/{f}/imports",
         "json": {"images": [{"objectUrl": "https://cdn.example.com/new.jpg", "clientMetadata": {"k": SLOT}}]},
         "ids": [f]},
        {"name": "REST item by id", "who": "api", "method": "GET", "url": f"/api/v1/items/{i}", "ids": [i]},
        {"name": "REST token by id", "who": "api", "method": "DELETE", "url": f"/api/v1/tokens/{w['token_pk']}",
         "ids": [w["token_pk"]]},
        {"name": "page metadata JSON form", "who": "page", "method": "POST", "url": f"/metadata/items/{i}/json",
         "form_json": {"metadata": {"k": SLOT}}, "ids": [i]},
        {"name": "page folder rename form", "who": "page", "method": "POST", "url": f"/folders/{f}/rename",
         "form_json": {"name": SLOT}, "ids": [f]},
        {"name": "page upload", "who": "page", "method": "POST", "url": f"/folders/{f}/uploads",
         "upload": True, "ids": [f]},
        {"name": "page item", "who": "page", "method": "GET", "url": f"/items/{i}/", "ids": [i]},
        {"name": "REST add organisation member", "who": "api", "method": "POST",
         "url": "/api/v1/organisation/members", "json": {"email": SLOT, "role": "member"}},
        {"name": "REST organisation member role", "who": "api", "method": "PATCH",
         "url": f"/api/v1/organisation/members/{w['user_pk']}", "json": {"role": SLOT}, "ids": [w["user_pk"]]},
        {"name": "page add member form", "who": "page", "method": "POST", "url": "/organisation/members/add",
         "form_json": {"email": SLOT}},
        {"name": "page remove member", "who": "page", "method": "POST",
         "url": f"/organisation/members/{w['user_pk']}/remove", "ids": [w["user_pk"]]},
        {"name": "page token revoke", "who": "page", "method": "POST", "url": f"/account/tokens/{w['token_pk']}/revoke",
         "ids": [w["token_pk"]]},
        {"name": "page schema key delete", "who": "page", "method": "POST",
         "url": f"/metadata/schema/keys/{w['key_pk']}/delete", "ids": [w["key_pk"]]},
        {"name": "Encord create folder", "who": "api", "method": "POST", "url": "/v2/public/storage/folders",
         "json": {"name": "x", "clientMetadata": {"k": SLOT}}},
        {"name": "Encord create folder (metadata as a string)", "who": "api", "method": "POST",
         "url": "/v2/public/storage/folders", "json_string_slot": {"name": "x", "clientMetadata": SLOT}},
        {"name": "Encord patch items", "who": "api", "method": "PATCH", "url": "/v2/public/storage/items/patch-bulk",
         "json": {"itemPatches": {i: {"clientMetadata": {"k": SLOT}}}}},
        {"name": "Encord get item", "who": "api", "method": "GET", "url": f"/v2/public/storage/items/{i}", "ids": [i]},
        {"name": "Encord legacy RPC", "who": "api", "method": "POST", "url": "/public",
         "json": {"query_type": "cloudintegration", "query_method": "GET", "values": {"uid": SLOT}}},
        {"name": "Encord get folder", "who": "api", "method": "GET", "url": f"/v2/public/storage/folders/{f}",
         "ids": [f]},
        {"name": "REST explore search", "who": "api", "method": "POST", "url": "/api/v1/explore/search",
         "json": {"filter": {"key": "k", "op": "eq", "value": SLOT}}},
        {"name": "REST explore search (written expression)", "who": "api", "method": "POST",
         "url": "/api/v1/explore/search", "json": {"q": SLOT}},
        {"name": "REST create saved view", "who": "api", "method": "POST", "url": "/api/v1/explore/views",
         "json": {"name": "w", "filter": {"key": "k", "op": "eq", "value": SLOT}}},
        {"name": "REST patch saved view", "who": "api", "method": "PATCH", "url": f"/api/v1/explore/views/{w['view']}",
         "json": {"name": SLOT}, "ids": [w["view"]]},
        {"name": "REST open saved view", "who": "api", "method": "GET", "url": f"/api/v1/explore/views/{w['view']}",
         "ids": [w["view"]]},
        {"name": "REST explore bulk-edit set", "who": "api", "method": "POST", "url": "/api/v1/explore/bulk-edit",
         "json": {"items": [i], "set": {"k": SLOT}}},
        {"name": "REST explore bulk-edit merge", "who": "api", "method": "POST", "url": "/api/v1/explore/bulk-edit",
         "json": {"items": [i], "merge": {"k": {"n": SLOT}}}},
        {"name": "REST explore move", "who": "api", "method": "POST", "url": "/api/v1/explore/move",
         "json": {"items": [SLOT], "destination": f}},
        {"name": "REST explore trash", "who": "api", "method": "POST", "url": "/api/v1/explore/trash",
         "json": {"items": [SLOT]}},
        {"name": "REST explore export", "who": "api", "method": "POST", "url": "/api/v1/explore/export",
         "json": {"items": [SLOT], "format": "json"}},
        {"name": "REST explore facets (a key)", "who": "api", "method": "POST", "url": "/api/v1/explore/facets",
         "json": {"keys": ["camera", SLOT]}},
        {"name": "REST explore count", "who": "api", "method": "POST", "url": "/api/v1/explore/count",
         "json": {"filter": {"key": "k", "op": "eq", "value": SLOT}}},
        {"name": "REST duplicates list", "who": "api", "method": "GET", "url": "/api/v1/similarity/duplicates"},
        {"name": "REST duplicates scan", "who": "api", "method": "POST", "url": "/api/v1/similarity/duplicates/scan",
         "json": {"method": "hash", "threshold": SLOT}},
        {"name": "REST duplicates resolve", "who": "api", "method": "POST",
         "url": f"/api/v1/similarity/duplicates/{w['group']}/resolve", "json": {"keep": SLOT}, "ids": [w["group"]]},
    ]


def _body_request(door: dict, raw: str) -> dict | None:
    """The request kwargs carrying ``raw`` (JSON text) through ``door``'s body, or None if it has none."""
    if "json" in door:
        text = json.dumps(door["json"]).replace(json.dumps(SLOT), raw)
        return {"data": text.encode(), "headers": {"Content-Type": "application/json"}}
    if "json_string_slot" in door:  # the SDK's clientMetadata: JSON text inside a JSON string
        text = json.dumps(door["json_string_slot"]).replace(json.dumps(SLOT), json.dumps('{"k": ' + raw + "}"))
        return {"data": text.encode(), "headers": {"Content-Type": "application/json"}}
    if "form_json" in door:
        (field, value), = door["form_json"].items()
        if value == SLOT:  # a text field: only string inputs apply, sent as their UTF-8 bytes
            if not raw.startswith('"'):
                return None
            text = json.loads(raw).encode("utf-8", "surrogatepass")
        else:  # a field holding JSON text
            text = json.dumps(value).replace(json.dumps(SLOT), raw).encode()
        return {"data": f"{field}=".encode() + quote_from_bytes(text).encode(),
                "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    if door.get("upload"):
        # The only text an upload carries is its file name, which Django's multipart parser cleans of
        # non-printable characters (NUL) and of bytes that are not UTF-8 before any view sees it; so
        # only the URL inputs apply (the body is a valid upload).
        if raw != '"ok"':
            return None
        body = (b'--b\r\nContent-Disposition: form-data; name="files"; filename="ok.jpg"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\r\n--b--\r\n')
        return {"data": body, "headers": {"Content-Type": "multipart/form-data; boundary=b"}}
    return None


class _Answer:
    def __init__(self, status: int, headers, body: bytes):
        self.status_code, self.headers, self.text = status, headers, body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.text)


def _send(session: requests.Session, method: str, url: str, **kwargs) -> _Answer:
    """The request with the target exactly as given: requests and urllib3 would re-quote ``%zz`` as
    ``%25zz``, so the prepared request (headers, cookies, body) goes out through http.client."""
    prepared = session.prepare_request(requests.Request(method, url, **kwargs))
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        target = url[len(f"{parts.scheme}://{parts.netloc}"):]
        connection.request(method, target, body=prepared.body, headers=dict(prepared.headers))
        response = connection.getresponse()
        return _Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def _assert_refused(response: _Answer, what: str) -> None:
    if os.environ.get("LOUPE_SHOW_ANSWERS"):
        print(what, response.status_code, response.text[:160].replace("\n", " "))
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    content_type = response.headers.get("Content-Type", "")
    if content_type.startswith("application/json"):
        body = response.json()
        assert body and any(str(v).strip() for v in body.values()), f"{what}: no reason in {body}"
    else:
        assert "Traceback" not in response.text and len(response.text) > 50, f"{what}: {response.text[:300]}"


def test_every_bad_input_at_every_door_is_a_4xx_with_a_reason_and_changes_nothing(world):
    before = _database_state()
    tries = 0
    failures = []
    for door in _doors(world):
        session = world[door["who"]]
        for name, raw in BODY_INPUTS.items():
            kwargs = _body_request(door, raw)
            if kwargs is None:
                continue
            tries += 1
            response = _send(session, door["method"], world["base"] + door["url"], **kwargs)
            try:
                _assert_refused(response, f"{door['name']} × {name}")
            except AssertionError as exc:
                failures.append(str(exc))
        for name, spoil in URL_INPUTS.items():
            url = spoil(door["url"], door.get("ids", []))
            if url is None:
                continue
            tries += 1
            kwargs = _body_request(door, '"ok"') or {}
            response = _send(session, door["method"], world["base"] + url, **kwargs)
            try:
                _assert_refused(response, f"{door['name']} × {name}")
            except AssertionError as exc:
                failures.append(str(exc))
    for what, method, url, body in _unstorable(world):
        tries += 1
        response = _send(world["api"], method, world["base"] + url, **({"json": body} if body is not None else {}))
        try:
            _assert_refused(response, what)
        except AssertionError as exc:
            failures.append(str(exc))
    print(f"bad inputs × doors: {tries} tries, {len(failures)} failures")
    assert failures == [], "\n".join(failures)
    assert _database_state() == before
    assert tries == 264 + 48 + 10 + 30 + 2 + 40 + 1 + 75 + 30 + 2 + 38  # 48: the organisation members doors;
    # 30 + 2: explore search; 40 + 1: saved views (create 15, patch 17, open 8; a name of 10,000
    # characters); 75: explore bulk-edit (2), move, trash, export; 30 + 2: explore facets and count;
    # 38: duplicates list 6, scan 15, resolve 17


def _unstorable(w) -> list[tuple[str, str, str, dict | None]]:
    """Values well-formed as JSON or text that a column cannot hold: (what, method, url, json body)."""
    f, i = w["folder"], w["item"]
    big = 2**63  # one past bigint
    return [
        ("schema key max_length past bigint", "POST", "/api/v1/metadata/schema/keys",
         {"name": "c", "type": "string", "max_length": big}),
        ("schema key embedding size past bigint", "POST", "/api/v1/metadata/schema/keys",
         {"name": "e", "type": "embedding", "size": big}),
        ("folder name of 10,000 characters", "POST", "/api/v1/folders", {"name": "n" * 10_000}),
        ("Encord folder name of 10,000 characters", "POST", "/v2/public/storage/folders", {"name": "n" * 10_000}),
        ("Encord item name of 10,000 characters", "PATCH", "/v2/public/storage/items/patch-bulk",
         {"itemPatches": {i: {"name": "n" * 10_000}}}),
        ("item name of 10,000 characters", "PATCH", f"/api/v1/items/{i}", {"name": "n" * 10_000}),
        ("Encord page size past bigint", "GET", f"/v2/public/storage/folders/{f}/items?pageSize={big}", None),
        ("Encord page token of garbage", "GET", f"/v2/public/storage/folders/{f}/items?pageToken=%FF%FE", None),
        ("item history change id past bigint", "POST",
         f"/api/v1/items/{i}/metadata/history/{big * 10**5}/revert", None),
        ("import job errors past bigint", "GET", f"/api/v1/imports/{f}/errors?errors_after={big}", None),
        ("explore page size past bigint", "POST", "/api/v1/explore/search", {"page_size": big}),
        ("explore number past bigint", "POST", "/api/v1/explore/search",
         {"filter": {"field": "file_size", "op": "gt", "value": big}}),
        ("saved view name of 10,000 characters", "POST", "/api/v1/explore/views", {"name": "n" * 10_000}),
        ("explore facets number past bigint", "POST", "/api/v1/explore/facets",
         {"keys": [{"field": "width"}], "filter": {"field": "width", "op": "lt", "value": -big}}),
        ("explore count number past bigint", "POST", "/api/v1/explore/count",
         {"filter": {"field": "file_size", "op": "between", "value": [big, big]}}),
    ]


SHORT_TEXT_INSERT = "CREATE TEMP TABLE short_text (v varchar(2)); INSERT INTO short_text VALUES ('abcd')"


def test_a_data_error_caused_by_the_input_is_a_400_and_any_other_stays_a_500(transactional_db):
    """The net under every door's validation, with errors PostgreSQL really raises: the input's fault
    (22P02, 22003, 22001, a NUL psycopg refuses) is a 400 naming the reason; another data exception
    (division by zero: Loupe's own SQL) is not turned into the caller's fault."""
    from django.db import DataError, connection, transaction

    from apps.core.errors import api_exception_handler

    def error_of(sql: str, params=()) -> DataError:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
        except DataError as exc:
            return exc
        raise AssertionError(f"{sql} did not fail")

    answers = {sql: api_exception_handler(error_of(sql, params), {}) for sql, params in [
        ("SELECT 'abc'::integer", ()),
        ("SELECT 99999999999999999999::bigint", ()),
        (SHORT_TEXT_INSERT, ()),
        ("SELECT %s::text", ("a\x00b",)),
        ("SELECT 1 / 0", ()),
    ]}

    assert {sql: (a.status_code, a.data) if a else None for sql, a in answers.items()} == {
        "SELECT 'abc'::integer": (400, {"detail": "The database cannot store this input: a value is not valid for "
                                                  'its type (invalid input syntax for type integer: "abc").'}),
        "SELECT 99999999999999999999::bigint": (400, {"detail": "The database cannot store this input: a number is "
                                                                "out of range for its field (bigint out of range)."}),
        SHORT_TEXT_INSERT: (400, {"detail": "The database cannot store this input: a text is longer than "
                                                      "its field allows (value too long for type character varying(2))."}),
        "SELECT %s::text": (400, {"detail": "The database cannot store this input: a text contains a NUL character "
                                            "(\\u0000)."}),
        "SELECT 1 / 0": None,
    }


# Raw JSON text of the bad values a registration file entry can carry. Not here: NaN/Infinity (not
# JSON: yajl refuses the whole file) and lone surrogates (yajl would read one in a value as "?" and
# cannot read on past one in a key, so the raw text is checked first): they end the job with a
# file-level reason that gives the place (FILE_LEVEL_INPUTS).
FILE_INPUTS = {name: raw for name, raw in BODY_INPUTS.items()
               if name not in ("NaN", "-Infinity", "lone surrogate", "lone surrogate in key")}
def _import_finished(api, base: str, folder: str, text: str) -> dict:
    """Submit ``text`` as a registration file over HTTP and wait for the worker to end the job."""
    import time

    submitted = api.post(f"{base}/api/v1/folders/{folder}/imports", timeout=30,
                         files={"file": ("bad.json", text.encode(), "application/json")})
    assert submitted.status_code == 202, submitted.text
    deadline = time.monotonic() + 30
    while (job := api.get(f"{base}/api/v1/imports/{submitted.json()['uuid']}", timeout=30).json())["status"] \
            not in ("DONE", "ERROR", "CANCELLED"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    return job


FILE_LEVEL_INPUTS = {
    "NaN": "not valid JSON: lexical error: invalid char in json text near byte",
    "-Infinity": "not valid JSON: lexical error: malformed number, a digit is required after the minus sign",
    "lone surrogate": "not valid JSON text: \\ud800 at line 1, column ",
    "lone surrogate in key": "not valid JSON text: \\udc00 at line 1, column ",
}


def test_bad_values_in_a_registration_file_fail_their_entry_and_the_job_goes_on(
        world, celery_worker_process):
    """The import door: each bad value, in an entry's metadata, fails that entry with the place and the
    reason; the good entry is registered and the job ends DONE (no worker crash, no RUNNING job)."""
    media = {"mime_type": "image/jpeg", "file_size": 1, "width": 1, "height": 1}  # nothing to fetch
    entries = [{"objectUrl": f"https://cdn.example.com/bad-{n}.jpg", "imageMetadata": media,
                "clientMetadata": {"k": SLOT}} for n in range(len(FILE_INPUTS))]
    entries.append({"objectUrl": "https://cdn.example.com/good.jpg", "imageMetadata": media})
    text = json.dumps({"images": entries})
    for raw in FILE_INPUTS.values():
        text = text.replace(json.dumps(SLOT), raw, 1)
    api, base = world["api"], world["base"]
    items_before = Item.objects.count()

    job = _import_finished(api, base, world["folder"], text)
    errors = api.get(f"{base}/api/v1/imports/{job['uuid']}/errors", timeout=30).json()["results"]

    assert (job["status"], job["done"], job["failed"]) == ("DONE", 1, len(FILE_INPUTS))
    assert [(e["entry_index"], e["pointer"], e["reason"]) for e in errors] == [
        (0, "/images/0/clientMetadata/k" + "/0" * 62, "nested deeper than 64 levels"),  # entry = level 0
        (1, "/images/1/clientMetadata/k", "the string contains a NUL character (\\u0000), which cannot be stored"),
        (2, "/images/2/clientMetadata/k", "a key contains a NUL character (\\u0000), which cannot be stored"),
        (3, "/images/3", "holds the number 1E+999, beyond the range of a float"),
        (4, "/images/4/clientMetadata/k", "an integer of more than 309 digits is out of range"),
    ]
    assert Item.objects.count() == items_before + 1  # the good entry

    for name, reason in FILE_LEVEL_INPUTS.items():
        entry = {"objectUrl": "https://cdn.example.com/x.jpg", "imageMetadata": media, "clientMetadata": SLOT}
        text = json.dumps({"images": [entry]}).replace(json.dumps(SLOT), "{\"k\": " + BODY_INPUTS[name] + "}"
                                                        if name != "lone surrogate in key" else BODY_INPUTS[name])
        job = _import_finished(api, base, world["folder"], text)
        assert (name, job["status"], job["error"][:len(reason)]) == (name, "ERROR", reason)
    assert Item.objects.count() == items_before + 1


def _metadata_job_finished(w, text: str):
    import time


    submitted = w["api"].post(f"{w['base']}/api/v1/metadata/jobs", timeout=30,
                              files={"file": ("rows.json", text.encode())}, data={"folder": w["folder"]})
    assert submitted.status_code == 202, submitted.text
    deadline = time.monotonic() + 30
    while not (job := MetadataJob.objects.get(pk=submitted.json()["uuid"])).is_finished:
        assert time.monotonic() < deadline, job.status
        time.sleep(0.1)
    return job


# yajl refuses these while reading a metadata-job file (it has no exact-number pass), and a lone
# surrogate is found in the raw text before yajl would apply it as "?": file-level errors.
METADATA_FILE_LEVEL = {
    "1e999": "The file is not valid JSON: parse error: numeric (floating point) overflow",
    "huge int": "The file is not valid JSON: parse error: integer overflow",
    "lone surrogate": "The file is not valid JSON text: \\ud800 at line 1, column ",
}


def test_bad_values_in_a_metadata_job_file_fail_their_row_and_the_job_goes_on(world, celery_worker_process):
    """The metadata-job door: JSON rows whose metadata or key holds a bad value fail alone, with the place;
    the good row is applied and the job ends DONE. Numbers yajl cannot read end the job with the reason."""
    item = Item.objects.get(pk=world["item"])
    row_inputs = [raw for name, raw in FILE_INPUTS.items() if name not in METADATA_FILE_LEVEL]
    rows = [f'{{"item": "{item.pk}", "metadata": {{"k": {raw}}}}}' for raw in row_inputs]
    rows.append('{"title": "a\\u0000b", "metadata": {"k": 1}}')
    rows.append(f'{{"item": "{item.pk}", "metadata": {{"good": true}}}}')

    job = _metadata_job_finished(world, '{"items": [' + ", ".join(rows) + "]}")

    assert (job.status, job.error) == ("DONE", ""), job.error
    assert list(job.errors.order_by("row").values_list("row", "reason")) == [  # rows counted from 1
        (1, "metadata/k" + "/0" * 63 + ": nested deeper than 64 levels"),  # metadata = level 0
        (2, "metadata/k: the string contains a NUL character (\\u0000), which cannot be stored"),
        (3, "metadata/k: a key contains a NUL character (\\u0000), which cannot be stored"),
        (4, "the item key: the string contains a NUL character (\\u0000), which cannot be stored"),
    ]
    item.refresh_from_db()
    assert item.client_metadata == {"n": 1, "good": True}
    for name, reason in METADATA_FILE_LEVEL.items():
        job = _metadata_job_finished(world, f'{{"items": [{{"item": "{item.pk}", "metadata": {{"k": {BODY_INPUTS[name]}}}}}]}}')
        assert (name, job.status, job.error.splitlines()[0][:len(reason)]) == (name, "ERROR", reason)
    item.refresh_from_db()
    assert item.client_metadata == {"n": 1, "good": True}


def test_the_request_guard_answers_a_data_error_in_the_format_of_the_door(transactional_db):
    """Pages and the Encord routes (whose own handlers do not map it) get the same net, in their format."""
    from django.db import DataError, connection, transaction
    from django.test import RequestFactory

    from apps.core.middleware import RequestInputGuardMiddleware

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 'abc'::integer")
    except DataError as exc:
        error = exc
    guard = RequestInputGuardMiddleware(lambda request: None)
    reason = 'The database cannot store this input: a value is not valid for its type (invalid input syntax for type integer: "abc").'

    encord = guard.process_exception(RequestFactory().post("/v2/public/storage/folders"), error)
    legacy = guard.process_exception(RequestFactory().post("/public"), error)
    page = guard.process_exception(RequestFactory().post("/folders/new"), error)

    assert (encord.status_code, json.loads(encord.content)) == (400, {"message": reason})
    assert (legacy.status_code, json.loads(legacy.content)) == (
        400, {"status": 400, "response": ["INVALID_ARGUMENTS_ERROR"], "payload": reason})
    assert page.status_code == 400 and reason.replace('"', "&quot;") in page.content.decode()
    assert guard.process_exception(RequestFactory().get("/"), ValueError("a bug")) is None
