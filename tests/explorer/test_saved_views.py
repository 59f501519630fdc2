"""Saved views over real HTTP (``/api/v1/explore/views``): create, list, open, rename, delete; who sees
and changes what across users and organisations; names; states checked when saved and again when
opened; and the opened view's search run through ``POST /api/v1/explore/search`` as the opener."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, transaction

from apps.core.services import organisation_member_remove
from apps.explorer.models import SavedView
from apps.explorer.services_views import saved_view_create, saved_view_rename
from apps.metadata.selectors import schema_key_get
from apps.metadata.services.schema import schema_key_hard_delete, schema_key_restore, schema_key_soft_delete
from apps.storage.models import FolderRole, Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create, folder_member_set, folder_trash
from tests.encord_compat.helpers import schema_add
from tests.factories import OrganisationFactory

URL = "/api/v1/explore/views"
SEARCH = "/api/v1/explore/search"
NIGHT = {"and": [{"key": "camera", "op": "in", "value": ["cam3", "cam4"]},
                 {"key": "captured", "op": "between", "value": ["2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z"]}]}


@pytest.fixture
def world(transactional_db, org, make_user, api_for):
    """Acme: admin Ada (org admin), Alice and Bob (members; Alice holds folders a and b, Bob sees a only).
    Other: Carol. Six items, three per folder."""
    ada = make_user(org, role="admin", email="ada@example.com")
    alice = make_user(org, email="alice@example.com")
    bob = make_user(org, email="bob@example.com")
    carol = make_user(OrganisationFactory(name="Other"), role="admin", email="carol@example.com")
    schema_add(ada, org, camera=("enum", ["cam1", "cam3", "cam4"]), score="number", captured="datetime")
    folder_a = folder_create(user=ada, name="a", organisation=org)
    folder_b = folder_create(user=ada, name="b", organisation=org)
    for folder in (folder_a, folder_b):
        folder_member_set(user=ada, folder=folder, member=alice, role=FolderRole.EDITOR)
    folder_member_set(user=ada, folder=folder_a, member=bob, role=FolderRole.VIEWER)
    items = {}
    for n, (folder, camera) in enumerate([(folder_a, "cam3"), (folder_a, "cam4"), (folder_a, "cam1"),
                                          (folder_b, "cam3"), (folder_b, "cam4"), (folder_b, "cam1")]):
        items[n] = Item.objects.create(
            organisation=org, folder=folder, item_type=ItemType.IMAGE, name=f"f{n}.jpg", status=ItemStatus.READY,
            client_metadata={"camera": camera, "score": n / 10, "captured": f"2026-11-0{n + 1}T12:00:00Z"})
    return {"org": org, "ada": ada, "alice": alice, "bob": bob, "carol": carol, "a": folder_a, "b": folder_b,
            "items": items, "api": {name: api_for(user) for name, user in
                                    [("ada", ada), ("alice", alice), ("bob", bob), ("carol", carol)]}}


def names(answer) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [view["name"] for view in answer.json()]


def found(api, search: dict) -> set[str]:
    answer = api.post(search["url"], json={**search["body"], "page_size": 100})
    assert answer.status_code == 200, answer.text
    return {item["name"] for item in answer.json()["results"]}


def test_create_list_open_run_rename_and_delete(world):
    api, org = world["api"]["alice"], world["org"]
    body = {"name": "Night cams", "scope": {"folder": str(world["a"].pk), "recursive": False}, "filter": NIGHT,
            "q": "score > 0.05", "sort": [{"key": "score", "desc": True}],
            "view": {"layout": "table", "columns": [{"field": "name"}, {"key": "camera"}]}}
    created = api.post(URL, json=body)
    assert created.status_code == 201, created.text
    view = created.json()
    search_body = {"scope": {"folder": str(world["a"].pk), "recursive": False}, "filter": NIGHT,
                   "q": "score > 0.05", "sort": [{"key": "score", "desc": True}]}
    assert view == {
        "uuid": view["uuid"], "organisation": str(org.pk), "name": "Night cams", "shared": False,
        "owner": "alice@example.com", "owned": True, "can_delete": True, **search_body,
        "view": {"layout": "table", "columns": [{"field": "name"}, {"key": "camera"}]},
        "search": {"method": "POST", "url": f"{SEARCH}?organisation={org.pk}", "body": search_body},
        "created_at": view["created_at"], "updated_at": view["updated_at"],
    }
    assert names(api.get(URL)) == ["Night cams"]
    opened = api.get(f"{URL}/{view['uuid']}")
    assert opened.status_code == 200 and opened.json() == view
    answer = api.post(view["search"]["url"], json={**view["search"]["body"], "page_size": 100})
    assert [item["name"] for item in answer.json()["results"]] == ["f1.jpg"]  # f0's score 0.0 is not > 0.05

    renamed = api.patch(f"{URL}/{view['uuid']}", json={"name": "  Night cams (a)  "})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() | {"updated_at": None} == view | {"name": "Night cams (a)", "updated_at": None}
    assert names(api.get(URL)) == ["Night cams (a)"]

    assert api.delete(f"{URL}/{view['uuid']}").status_code == 204
    assert api.get(f"{URL}/{view['uuid']}").status_code == 404
    assert names(api.get(URL)) == []
    assert SavedView.objects.count() == 0


def test_patch_changes_the_state_and_sharing_and_the_defaults(world):
    api = world["api"]["alice"]
    view = api.post(URL, json={"name": "All"}).json()
    assert (view["scope"], view["filter"], view["q"], view["sort"], view["view"], view["shared"]) == (
        {"folder": None, "recursive": True}, None, None, None, {"layout": "grid", "columns": []}, False)
    changed = api.patch(f"{URL}/{view['uuid']}", json={
        "shared": True, "q": "camera = 'cam1'", "sort": [{"field": "name"}], "view": {"layout": "table"},
        "scope": {"folder": str(world["b"].pk)}})
    assert changed.status_code == 200, changed.text
    data = changed.json()
    assert (data["scope"], data["q"], data["sort"], data["view"], data["shared"]) == (
        {"folder": str(world["b"].pk), "recursive": True}, "camera = 'cam1'", [{"field": "name", "desc": False}],
        {"layout": "table", "columns": []}, True)
    assert found(world["api"]["alice"], data["search"]) == {"f5.jpg"}
    back = api.patch(f"{URL}/{view['uuid']}", json={"scope": None, "q": None, "sort": None}).json()
    assert (back["scope"], back["q"], back["sort"]) == ({"folder": None, "recursive": True}, None, None)
    assert found(api, back["search"]) == {f"f{n}.jpg" for n in range(6)}


def test_private_and_shared_views_across_users_and_organisations(world):
    alice, bob, ada, carol = (world["api"][name] for name in ("alice", "bob", "ada", "carol"))
    private = alice.post(URL, json={"name": "Mine"}).json()
    shared = alice.post(URL, json={"name": "Ours", "shared": True}).json()
    carols = carol.post(URL, json={"name": "Theirs", "shared": True}).json()
    assert names(alice.get(URL)) == ["Mine", "Ours"]
    assert names(bob.get(URL)) == ["Ours"]
    assert names(ada.get(URL)) == ["Ours"]  # an organisation admin does not see members' private views
    assert names(carol.get(URL)) == ["Theirs"]
    assert names(alice.get(URL, params={"organisation": str(world["org"].pk)})) == ["Mine", "Ours"]
    assert alice.get(URL, params={"organisation": carols["organisation"]}).json() == {
        "organisation": ["Unknown organisation."]}

    as_bob = bob.get(f"{URL}/{shared['uuid']}").json()
    assert (as_bob["owner"], as_bob["owned"], as_bob["can_delete"]) == ("alice@example.com", False, False)
    as_ada = ada.get(f"{URL}/{shared['uuid']}").json()
    assert (as_ada["owned"], as_ada["can_delete"]) == (False, True)
    for api, view in [(bob, private), (ada, private), (carol, private), (carol, shared), (alice, carols)]:
        for answer in (api.get(f"{URL}/{view['uuid']}"), api.patch(f"{URL}/{view['uuid']}", json={"name": "x"}),
                       api.delete(f"{URL}/{view['uuid']}")):
            assert (answer.status_code, answer.json()) == (404, {"detail": "No such saved view."})
    assert api.get(f"{URL}/{uuid.uuid4()}").status_code == 404
    assert sorted(SavedView.objects.values_list("name", flat=True)) == ["Mine", "Ours", "Theirs"]


def test_only_the_owner_changes_a_view_and_organisation_admins_delete_shared_ones(world):
    alice, bob, ada = (world["api"][name] for name in ("alice", "bob", "ada"))
    shared = alice.post(URL, json={"name": "Ours", "shared": True}).json()
    for api in (bob, ada):
        answer = api.patch(f"{URL}/{shared['uuid']}", json={"name": "Taken over"})
        assert (answer.status_code, answer.json()) == (403, {"detail": "Only the owner of a saved view changes it."})
    answer = bob.delete(f"{URL}/{shared['uuid']}")
    assert (answer.status_code, answer.json()) == (403, {
        "detail": "Only the owner deletes a saved view (or an organisation admin, a shared one)."})
    assert SavedView.objects.get().name == "Ours"
    assert ada.delete(f"{URL}/{shared['uuid']}").status_code == 204
    assert SavedView.objects.count() == 0


def test_a_removed_member_sees_none_of_the_organisations_views_their_own_included(world):
    bob = world["api"]["bob"]
    bob.post(URL, json={"name": "Bob's"})
    world["api"]["alice"].post(URL, json={"name": "Ours", "shared": True})
    assert names(bob.get(URL)) == ["Bob's", "Ours"]
    organisation_member_remove(organisation=world["org"], user=world["bob"], by=world["ada"])
    assert names(bob.get(URL)) == []
    assert bob.post(URL, json={"name": "Again"}).json() == {"organisation": ["You do not belong to any organisation."]}


def test_duplicate_names_are_refused_with_a_name_error(world):
    alice, bob, carol = (world["api"][name] for name in ("alice", "bob", "carol"))
    assert alice.post(URL, json={"name": "Night"}).status_code == 201
    answer = alice.post(URL, json={"name": "NIGHT ", "shared": True})
    assert (answer.status_code, answer.json()) == (400, {
        "name": ['You already have a saved view named "NIGHT" in this organisation.']})
    assert bob.post(URL, json={"name": "night"}).status_code == 201  # another owner's private view
    assert bob.post(URL, json={"name": "Shared one", "shared": True}).status_code == 201
    answer = alice.post(URL, json={"name": "shared ONE", "shared": True})
    assert (answer.status_code, answer.json()) == (400, {
        "name": ['A view shared with the organisation is already named "shared ONE".']})
    # A private view may carry a shared view's name: refusing it would tell Alice Bob's private names
    # whenever she tried to share.
    mine = alice.post(URL, json={"name": "shared ONE"}).json()
    answer = alice.patch(f"{URL}/{mine['uuid']}", json={"shared": True})
    assert (answer.status_code, answer.json()) == (400, {
        "name": ['A view shared with the organisation is already named "shared ONE".']})
    answer = alice.patch(f"{URL}/{mine['uuid']}", json={"name": "night"})
    assert (answer.status_code, answer.json()) == (400, {
        "name": ['You already have a saved view named "night" in this organisation.']})
    assert carol.post(URL, json={"name": "Shared one", "shared": True}).status_code == 201  # another organisation
    assert alice.post(URL, json={"name": " "}).json() == {"name": ["A saved view needs a name."]}
    assert sorted(SavedView.objects.values_list("name", "shared")) == [
        ("Night", False), ("Shared one", True), ("Shared one", True), ("night", False), ("shared ONE", False)]


def test_the_database_holds_the_name_rules_without_the_services(world):
    org, alice, bob = world["org"], world["alice"], world["bob"]
    SavedView.objects.create(organisation=org, owner=alice, name="Night")
    SavedView.objects.create(organisation=org, owner=bob, name="Shared", shared=True)
    for fields in ({"owner": alice, "name": "nIGHT"}, {"owner": alice, "name": "shared", "shared": True},
                   {"owner": alice, "name": ""}, {"owner": alice, "name": "x", "layout": "cards"}):
        with pytest.raises(IntegrityError), transaction.atomic():
            SavedView.objects.create(organisation=org, **fields)
    assert SavedView.objects.count() == 2


REFUSALS = [
    ({"filter": {"and": [{"key": "camera", "op": "eq", "value": "cam3"}, {"key": "score", "op": "prefix", "value": "1"}]}},
     {"filter.and[1]": ['key "score" is number: it takes between, eq, exists, gt, gte, in, lt, lte, missing, ne; '
                        'not "prefix".']}),
    ({"filter": {"or": [{"key": "camera", "op": "eq", "value": "cam9"}]}},
     {"filter.or[0]": ['key "camera" is one of "cam1", "cam3", "cam4"; got "cam9".']}),
    ({"filter": {"field": "colour", "op": "eq", "value": 1}},
     {"filter": ["Unknown built-in field \"colour\": one of type, folder, name, status, created, file_size, width, "
                 "height, duration, fps, duplicate."]}),
    ({"q": "score > 'high'"}, {"q": ['At position 0: "gt" on key "score" compares numbers; got "high".']}),
    ({"q": "score >"}, {"q": ['At position 7: expected a value (a "string", a number, true, false or [list]), found the end of '
                                   "the expression."]}),
    ({"sort": [{"key": "speed"}]},
     {"sort[0]": ['key "speed" is untyped: declare it (number, datetime, varchar, uuid, enum or boolean) to sort '
                  'by it.']}),
    ({"scope": {"folder": str(uuid.UUID(int=1))}},
     {"scope.folder": ["No such folder: the scope is a live folder of the organisation that you may see, or null "
                       "for the whole organisation."]}),
    ({"scope": {"folder": "b"}}, {"scope.folder": ["A folder uuid, or null for the whole organisation."]}),
    ({"view": {"layout": "cards"}}, {"view.layout": ["One of grid, table."]}),
    ({"view": {"columns": [{"key": "camera"}, {"column": "x"}]}},
     {"view.columns[1]": ['A column is {"key": <metadata key>} or {"field": <built-in>}.']}),
    ({"shared": "yes"}, {"shared": ["true (every member of the organisation sees it) or false."]}),
    ({"colour": "red"}, {"colour": ["Unknown member."]}),
]


@pytest.mark.parametrize("body, answer", REFUSALS, ids=[str(i) for i in range(len(REFUSALS))])
def test_a_state_the_search_would_refuse_is_refused_at_save_naming_the_place(world, body, answer):
    api = world["api"]["bob"]  # Bob cannot see folder b
    refused = api.post(URL, json={"name": "x", **body})
    assert (refused.status_code, refused.json()) == (400, answer)
    mine = api.post(URL, json={"name": "y"}).json()
    refused = api.patch(f"{URL}/{mine['uuid']}", json=body)
    assert (refused.status_code, refused.json()) == (400, answer)
    assert list(SavedView.objects.values_list("name", "filter", "q", "sort", "layout")) == [
        ("y", None, None, None, "grid")]


def test_a_folder_bob_cannot_see_is_refused_as_scope(world):
    answer = world["api"]["bob"].post(URL, json={"name": "b", "scope": {"folder": str(world["b"].pk)}})
    assert answer.json() == {"scope.folder": [
        "No such folder: the scope is a live folder of the organisation that you may see, or null for the whole "
        "organisation."]}


def test_a_view_whose_key_was_deleted_since_opens_with_a_clear_400(world):
    alice, ada, org = world["api"]["alice"], world["ada"], world["org"]
    view = alice.post(URL, json={"name": "Night", "filter": NIGHT, "sort": [{"key": "score"}], "shared": True}).json()
    schema_key_soft_delete(user=ada, key=schema_key_get(organisation=org, name="captured"))
    for api in (alice, world["api"]["bob"]):
        answer = api.get(f"{URL}/{view['uuid']}")
        assert (answer.status_code, answer.json()) == (400, {"filter.and[1]": [
            'The key "captured" was deleted from the schema (an admin may restore it) after this view was saved, '
            'so this no longer applies: key "captured" is undeclared: "between" compares numbers only (declare '
            "the key as a datetime to compare dates). Change the view (PATCH it with a new filter or sort) or "
            "save a new one."]})
        assert names(api.get(URL)) == ["Night"]  # still listed, with its stored state
    schema_key_restore(user=ada, key=schema_key_get(organisation=org, name="captured"))
    assert alice.get(f"{URL}/{view['uuid']}").status_code == 200

    schema_key_hard_delete(user=ada, key=schema_key_get(organisation=org, name="score"))
    answer = alice.get(f"{URL}/{view['uuid']}")
    assert (answer.status_code, answer.json()) == (400, {"sort[0]": [
        'The key "score" was deleted from the schema after this view was saved, so this no longer applies: '
        'key "score" is untyped: declare it (number, datetime, varchar, uuid, enum or boolean) to sort by it. '
        "Change the view (PATCH it with a new filter or sort) or save a new one."]})
    assert alice.patch(f"{URL}/{view['uuid']}", json={"name": "Night (old)"}).status_code == 200  # rename only
    fixed = alice.patch(f"{URL}/{view['uuid']}", json={"sort": [{"field": "created"}]})
    assert fixed.status_code == 200, fixed.text
    opened = alice.get(f"{URL}/{view['uuid']}")
    assert opened.status_code == 200
    assert found(alice, opened.json()["search"]) == {"f0.jpg", "f1.jpg", "f3.jpg", "f4.jpg"}


def test_a_retyped_key_and_a_written_expression_say_the_schema_changed(world):
    from apps.metadata.services.schema import schema_key_retype

    alice, ada, org = world["api"]["alice"], world["ada"], world["org"]
    view = alice.post(URL, json={"name": "High", "q": "camera = 'cam1' and score >= 0.5"}).json()
    schema_key_retype(user=ada, key=schema_key_get(organisation=org, name="score"), new_type="varchar")
    answer = alice.get(f"{URL}/{view['uuid']}")
    assert (answer.status_code, answer.json()) == (400, {"q": [
        'The schema changed after this view was saved, so this no longer applies: At position 20: key "score" is '
        'varchar: it takes contains, eq, exists, in, missing, ne, prefix; not "gte". Change the view (PATCH it '
        "with a new filter or sort) or save a new one."]})


def test_a_shared_view_shows_the_opener_only_what_they_may_see(world):
    alice, bob = world["api"]["alice"], world["api"]["bob"]
    everywhere = alice.post(URL, json={"name": "cam3/cam4", "shared": True, "filter": NIGHT}).json()
    assert found(alice, everywhere["search"]) == {"f0.jpg", "f1.jpg", "f3.jpg", "f4.jpg"}
    opened = bob.get(f"{URL}/{everywhere['uuid']}")
    assert opened.status_code == 200
    assert found(bob, opened.json()["search"]) == {"f0.jpg", "f1.jpg"}  # folder a only

    in_b = alice.post(URL, json={"name": "b only", "shared": True, "scope": {"folder": str(world["b"].pk)}}).json()
    answer = bob.get(f"{URL}/{in_b['uuid']}")
    assert (answer.status_code, answer.json()) == (400, {"scope.folder": [
        "This view's folder is in the trash or is not one you may see: open it in a scope you have, or ask the "
        "owner to share the folder with you."]})
    assert bob.post(in_b["search"]["url"], json=in_b["search"]["body"]).status_code == 404  # the search agrees
    folder_trash(user=world["ada"], folder=world["b"])
    assert alice.get(f"{URL}/{in_b['uuid']}").json() == answer.json()


def test_the_services_refuse_what_the_door_refuses(world):
    """The services hold the rules for every door (the admin, later pages), not the REST view."""
    org, alice, bob = world["org"], world["alice"], world["bob"]
    view = saved_view_create(user=alice, organisation=org, name="Mine", filter={"key": "score", "op": "gt", "value": 1})
    with pytest.raises(Exception) as refused:
        saved_view_rename(user=bob, view=view, name="Bob's now")
    assert str(refused.value) == "Only the owner of a saved view changes it."
    from django.http import Http404

    with pytest.raises(Http404):
        saved_view_create(user=world["carol"], organisation=org, name="Sneaky")
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Mine"]


def test_the_admin_shows_saved_views_read_only_and_deletes_them(world, client):
    from apps.core.models import User

    client.force_login(User.objects.create_superuser(email="root@example.com", password="pw-for-tests-1"))
    view = saved_view_create(user=world["alice"], organisation=world["org"], name="Mine", q="score > 0.5")
    page = client.get(f"/admin/explorer/savedview/{view.pk}/change/")
    assert page.status_code == 200 and "score &gt; 0.5" in page.content.decode()
    assert client.get("/admin/explorer/savedview/add/").status_code == 403
    assert client.post(f"/admin/explorer/savedview/{view.pk}/delete/", {"post": "yes"}).status_code == 302
    assert SavedView.objects.count() == 0


def test_two_saves_of_one_name_at_once_end_in_one_view_and_a_name_error(world):
    """The service's check cannot see a row another transaction has not committed; the unique index
    makes the second insert wait for it, and the constraint's refusal comes back as the same name error."""
    import threading
    import time

    from django.db import connection, connections

    from apps.core.errors import ServiceValidationError

    outcome = {}

    def second():
        try:
            saved_view_create(user=world["alice"], organisation=world["org"], name="night")
        except ServiceValidationError as exc:
            outcome["refused"] = exc.message_dict
        except BaseException as exc:  # shown by the assertion below
            outcome["error"] = repr(exc)
        finally:
            connections.close_all()

    with transaction.atomic():
        SavedView.objects.create(organisation=world["org"], owner=world["alice"], name="Night")
        thread = threading.Thread(target=second)
        thread.start()
        with connection.cursor() as cursor:
            for _ in range(200):  # until the second insert waits on the unique index (at most 10 s)
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # else the view is read once per transaction
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                               "AND query LIKE 'INSERT INTO \"explorer_savedview\"%%'")
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError(f"the second save never waited on the first: {outcome}")
    thread.join(timeout=30)
    assert outcome == {"refused": {"name": ['You already have a saved view named "night" in this organisation.']}}
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Night"]
