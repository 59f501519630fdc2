"""``POST /api/v1/explore/bulk-edit`` over real HTTP on the Explorer fixture (200 items, three folders):
exact metadata and history after set/remove/merge over a filter selection and over picked items,
refusals that change nothing, permissions, and a >1,000-item edit run by a real Celery worker."""

from __future__ import annotations

import time

import pytest

from apps.metadata.models_jobs import MetadataJob, MetadataJobStatus
from apps.metadata.records import MetadataChange
from apps.metadata.services.updates import metadata_change_revert
from apps.storage.models import FolderRole, Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create, folder_member_set
from tests.explorer.fixtures import build
from tests.factories import OrganisationFactory

URL = "/api/v1/explore/bulk-edit"
JOB_TIMEOUT_S = 60


@pytest.fixture
def world(transactional_db, org, make_user, api_for):
    admin = make_user(org, role="admin")
    folder_a, folder_b, sub, items = build(org, admin)
    return {"admin": admin, "a": folder_a, "b": folder_b, "sub": sub, "items": items, "api": api_for(admin),
            "api_for": api_for, "org": org, "make_user": make_user}


def snapshot(org) -> tuple[dict, int]:
    """Every item's metadata and the number of history rows: what a refusal must leave alone."""
    return (dict(Item.objects.filter(organisation=org).values_list("uuid", "client_metadata")),
            MetadataChange.objects.count())


def edited(metadata: dict) -> dict:
    """What the edit of the tests below makes of one item's metadata, computed in Python."""
    after = {k: v for k, v in metadata.items() if k not in ("night", "site")}
    after["score"] = 0.5
    after["reviewed"] = True
    after["info"] = {"lens": "35mm"}
    return after


EDIT = {"set": {"score": 0.5, "reviewed": True}, "remove": ["night"],
        "merge": {"info": {"lens": "35mm"}, "site": None}}


def test_set_remove_merge_over_a_filter_selection_writes_exact_metadata_and_history(world):
    org, items = world["org"], world["items"]
    in_a = {world["a"].pk, world["sub"].pk}
    selected = [i for i in items if i.folder_id in in_a and i.client_metadata.get("camera") == "cam3"]
    assert 10 < len(selected) < 60
    before = {i.pk: i.client_metadata for i in items}

    answer = world["api"].post(URL, json={"scope": {"folder": str(world["a"].pk), "recursive": True},
                                          "q": 'camera = "cam3"', **EDIT})

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"matched": len(selected), "changed": len(selected)}
    after = dict(Item.objects.filter(organisation=org).values_list("uuid", "client_metadata"))
    chosen = {i.pk for i in selected}
    assert after == {pk: edited(m) if pk in chosen else m for pk, m in before.items()}
    history = list(MetadataChange.objects.order_by("id").values_list("item_id", "action", "keys", "before", "after"))
    assert sorted(history, key=lambda row: str(row[0])) == sorted(
        [(pk, "merge", sorted(k for k in set(before[pk]) | set(edited(before[pk]))
                              if before[pk].get(k, ...) != edited(before[pk]).get(k, ...)),
          before[pk], edited(before[pk])) for pk in chosen], key=lambda row: str(row[0]))

    # Each change is revertible: the item's metadata is what it was.
    change = MetadataChange.objects.get(item_id=selected[0].pk)
    metadata_change_revert(user=world["admin"], change=change)
    assert Item.objects.get(pk=selected[0].pk).client_metadata == before[selected[0].pk]


def test_picked_items_count_matched_and_changed(world):
    items = world["items"][:3]
    Item.objects.filter(pk=items[0].pk).update(client_metadata={"camera": "cam1"})
    before = snapshot(world["org"])[0]
    answer = world["api"].post(URL, json={"items": [str(i.pk) for i in items], "set": {"camera": "cam1"}})
    assert answer.status_code == 200, answer.text
    differing = [i.pk for i in items if before[i.pk].get("camera") != "cam1"]
    assert answer.json() == {"matched": 3, "changed": len(differing)}
    assert {pk: m for pk, m in snapshot(world["org"])[0].items() if pk in before} == {
        pk: {**m, "camera": "cam1"} if pk in {i.pk for i in items} else m for pk, m in before.items()}
    # One history row per written item; the unchanged one records no changed key.
    assert dict(MetadataChange.objects.values_list("item_id", "keys")) == {
        i.pk: ["camera"] if i.pk in differing else [] for i in items}


@pytest.mark.parametrize(("body", "status", "errors"), [
    ({"q": 'camera = "cam3"', "set": {"score": "high"}}, 400, {"set.score"}),
    ({"q": 'camera = "cam3"', "set": {"camera": "cam9"}}, 400, {"set.camera"}),
    ({"q": 'camera = "cam3"', "merge": {"night": "yes"}}, 400, {"merge.night"}),
    ({"q": 'camera = "cam3"', "set": {"score": 1}, "remove": ["score"]}, 400, {"remove.score"}),
    ({"q": 'camera = "cam3"', "remove": ["$encord", "ok"]}, 400, {"remove[0]"}),
    ({"q": 'camera = "cam3"', "set": {"score": None}}, 400, {"set.score"}),
    ({"q": 'camera = "cam3"', "set": {"info": {"lens": "x"}}}, 400, {"set.info"}),
    ({"q": 'camera = "cam3"'}, 400, {"set"}),
    ({"q": 'camera = "cam3"', "set": [1]}, 400, {"set"}),
    ({"q": 'camera = "cam3" and', "set": {"score": 1}}, 400, {"q"}),
    ({"filter": {"key": "score", "op": "prefix", "value": "x"}, "set": {"score": 1}}, 400, {"filter"}),
    ({"items": ["not-a-uuid"], "set": {"score": 1}}, 400, {"items[0]"}),
    ({"items": [], "set": {"score": 1}}, 400, {"items"}),
    ({"items": [], "q": "score > 1", "set": {"score": 1}}, 400, {"items"}),
    ({"q": "score > 1", "set": {"score": 1}, "sort": []}, 400, {"sort"}),
])
def test_a_refusal_changes_nothing_and_names_the_member(world, body, status, errors):
    before = snapshot(world["org"])
    answer = world["api"].post(URL, json=body)
    assert answer.status_code == status, answer.text
    assert set(answer.json()) == errors
    assert snapshot(world["org"]) == before


def test_a_listed_item_one_cannot_see_is_a_404_and_changes_nothing(world):
    other = folder_create(user=world["admin"], name="hidden", organisation=world["org"])
    editor = world["make_user"](world["org"], role="member", email="editor@example.com")
    folder_member_set(user=world["admin"], folder=world["a"], member=editor, role=FolderRole.EDITOR)
    hidden = Item.objects.create(organisation=world["org"], folder=other, item_type=ItemType.IMAGE, name="h.jpg",
                                 status=ItemStatus.READY, client_metadata={})
    mine = [i for i in world["items"] if i.folder_id == world["a"].pk][:2]
    before = snapshot(world["org"])
    answer = world["api_for"](editor).post(URL, json={"items": [str(mine[0].pk), str(hidden.pk)],
                                                      "set": {"score": 1}})
    assert answer.status_code == 404
    assert snapshot(world["org"]) == before


def test_a_viewer_cannot_edit_an_editor_edits_only_what_they_see(world):
    org, make_user, api_for = world["org"], world["make_user"], world["api_for"]
    viewer = make_user(org, role="member", email="viewer@example.com")
    folder_member_set(user=world["admin"], folder=world["a"], member=viewer, role=FolderRole.VIEWER)
    viewer_api = api_for(viewer)
    in_a = [i for i in world["items"] if i.folder_id in (world["a"].pk, world["sub"].pk)]
    in_b = [i for i in world["items"] if i.folder_id == world["b"].pk]
    before = snapshot(org)
    attempts = [
        ({"scope": {"folder": str(world["a"].pk)}, "set": {"score": 1}}, 403),
        ({"set": {"score": 1}}, 403),  # the whole organisation: every item they see is read-only to them
        ({"items": [str(in_a[0].pk)], "set": {"score": 1}}, 403),
        ({"scope": {"folder": str(world["b"].pk)}, "set": {"score": 1}}, 404),
        ({"items": [str(in_b[0].pk)], "set": {"score": 1}}, 404),
    ]
    for body, status in attempts:
        assert viewer_api.post(URL, json=body).status_code == status, body
    assert snapshot(org) == before

    editor = make_user(org, role="member", email="editor@example.com")
    folder_member_set(user=world["admin"], folder=world["b"], member=editor, role=FolderRole.EDITOR)
    answer = api_for(editor).post(URL, json={"set": {"reviewed": True}})  # the organisation: only b is theirs
    assert answer.json() == {"matched": len(in_b), "changed": len(in_b)}
    after = dict(Item.objects.filter(organisation=org).values_list("uuid", "client_metadata"))
    b_ids = {i.pk for i in in_b}
    assert after == {pk: {**m, "reviewed": True} if pk in b_ids else m for pk, m in before[0].items()}

    outsider = make_user(OrganisationFactory(name="Other"), role="admin", email="out@example.com")
    assert api_for(outsider).post(URL, json={"set": {"score": 1}}).json() == {"matched": 0, "changed": 0}
    refused = api_for(outsider).post(URL + f"?organisation={org.pk}", json={"set": {"score": 1}})
    assert (refused.status_code, refused.json()) == (400, {"organisation": ["Unknown organisation."]})
    assert snapshot(org)[0] == after


def _wait(job_uuid) -> MetadataJob:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        job = MetadataJob.objects.get(pk=job_uuid)
        if job.is_finished:
            return job
        time.sleep(0.05)
    raise AssertionError(f"bulk-edit job {job_uuid} did not finish")


def test_more_than_1000_items_go_through_a_metadata_job_run_by_a_real_worker(celery_worker_process, world):
    org, admin = world["org"], world["admin"]
    extra = [Item(organisation=org, folder=world["b"], item_type=ItemType.IMAGE, name=f"bulk-{n:04d}.jpg",
                  status=ItemStatus.READY, client_metadata={"camera": "cam2", "n": n}) for n in range(1100)]
    Item.objects.bulk_create(extra)
    selected = {pk: m for pk, m in Item.objects.filter(organisation=org).values_list("uuid", "client_metadata")
                if m.get("camera") == "cam2"}
    others = {pk: m for pk, m in Item.objects.filter(organisation=org).values_list("uuid", "client_metadata")
              if pk not in selected}
    assert len(selected) > 1100

    answer = world["api"].post(URL, json={"q": 'camera = "cam2"', "set": {"reviewed": True}, "remove": ["night"]})

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["matched"] == len(selected)
    assert body["url"] == f"/api/v1/metadata/jobs/{body['job']['uuid']}"
    job = _wait(body["job"]["uuid"])
    assert (job.status, job.total, job.done, job.failed, job.error) == (
        MetadataJobStatus.DONE, len(selected), len(selected), 0, "")
    polled = world["api"].get(body["url"]).json()
    assert (polled["status"], polled["done"]) == ("DONE", len(selected))
    after = dict(Item.objects.filter(organisation=org).values_list("uuid", "client_metadata"))
    expected = {pk: {**{k: v for k, v in m.items() if k != "night"}, "reviewed": True} for pk, m in selected.items()}
    assert after == {**others, **expected}
    # Every item changed once, each with its history row, each revertible.
    history = list(MetadataChange.objects.values_list("item_id", "action", "before", "after"))
    assert sorted(history, key=lambda r: str(r[0])) == sorted(
        [(pk, "merge", selected[pk], expected[pk]) for pk in selected], key=lambda r: str(r[0]))
    some = next(iter(selected))
    metadata_change_revert(user=admin, change=MetadataChange.objects.get(item_id=some))
    assert Item.objects.get(pk=some).client_metadata == selected[some]


def test_a_folder_scoped_job_holds_the_selection_uuids_and_a_second_run_writes_nothing_more(world, monkeypatch):
    """The job holds exactly the snapshot of the selection (in uuid order) and the patch; it writes in
    batches, and running it again (a redelivered task) is a no-op: ``next_index`` is committed with
    each batch's writes."""
    from apps.metadata.services import jobs_patch
    from apps.metadata.services.jobs import metadata_job_run

    monkeypatch.setattr(jobs_patch, "PATCH_BATCH", 300)  # 1,001 items: four batches

    org, folder = world["org"], world["b"]
    Item.objects.bulk_create([Item(organisation=org, folder=folder, item_type=ItemType.IMAGE, name=f"j-{n}.jpg",
                                   status=ItemStatus.READY, client_metadata={"n": n}) for n in range(1001)])
    selected = set(Item.objects.filter(folder=folder, client_metadata__has_key="n").values_list("uuid", flat=True))
    answer = world["api"].post(URL, json={"scope": {"folder": str(folder.pk), "recursive": False},
                                          "filter": {"key": "n", "op": "exists"}, "set": {"reviewed": False}})
    assert answer.status_code == 202, answer.text
    job = MetadataJob.objects.get(pk=answer.json()["job"]["uuid"])
    assert (job.folder_id, job.mode, job.match, answer.json()["matched"]) == (folder.pk, "merge", "uuid", 1001)
    assert (job.items, job.patch, job.total) == (sorted(selected), {"reviewed": False}, 1001)
    # In process, twice; the queued task may also reach the session's worker, when one runs: the
    # job's lease lets one runner at a time work, and _wait sees the end whoever ran it.
    metadata_job_run(job_id=job.pk)
    metadata_job_run(job_id=job.pk)
    job = _wait(job.pk)
    assert (job.status, job.done, job.failed) == (MetadataJobStatus.DONE, 1001, 0)
    assert MetadataChange.objects.filter(item_id__in=selected).count() == 1001
    assert all(m == {"n": m["n"], "reviewed": False} for m in
               Item.objects.filter(pk__in=selected).values_list("client_metadata", flat=True))


def test_items_trashed_after_the_submission_are_failed_rows_and_the_rest_is_written(world, monkeypatch):
    """An item trashed (or moved out of reach) between the submission and its batch is a job error
    naming it; the others are written with their history, plain merges and nested ones alike."""
    from apps.metadata.models_jobs import MetadataJobError
    from apps.metadata.services import jobs_patch
    from apps.metadata.services.jobs import metadata_job_run

    monkeypatch.setattr(jobs_patch, "PATCH_BATCH", 500)
    org, folder = world["org"], world["b"]
    Item.objects.bulk_create([Item(organisation=org, folder=folder, item_type=ItemType.IMAGE, name=f"t-{n}.jpg",
                                   status=ItemStatus.READY, client_metadata={"n": n, "info": {"iso": n}})
                              for n in range(1200)])
    answer = world["api"].post(URL, json={"filter": {"key": "n", "op": "exists"},
                                          "merge": {"info": {"lens": "35mm"}}, "remove": ["n"]})
    assert answer.status_code == 202, answer.text
    job = MetadataJob.objects.get(pk=answer.json()["job"]["uuid"])
    gone = [job.items[3], job.items[777]]
    Item.objects.filter(pk__in=gone).update(deleted_at="2026-12-01T00:00:00Z")
    before = dict(Item.objects.filter(pk__in=job.items).values_list("uuid", "client_metadata"))
    metadata_job_run(job_id=job.pk)
    job = _wait(job.pk)
    assert (job.status, job.total, job.done, job.failed) == (MetadataJobStatus.DONE, 1200, 1198, 2)
    assert list(MetadataJobError.objects.filter(job=job).values_list("row", "key", "reason")) == [
        (4, str(gone[0]), f"no item {gone[0]} in this job's folders"),
        (778, str(gone[1]), f"no item {gone[1]} in this job's folders")]
    after = dict(Item.objects.filter(pk__in=job.items).values_list("uuid", "client_metadata"))
    for pk in job.items:
        expected = before[pk] if pk in gone else {"info": {"iso": before[pk]["info"]["iso"], "lens": "35mm"}}
        assert after[pk] == expected
    changes = MetadataChange.objects.filter(item_id__in=job.items)
    assert changes.count() == 1198 and {tuple(keys) for keys in changes.values_list("keys", flat=True)} == {("info", "n")}
