"""Managing an organisation's members: the services, the REST API and the members page.

Every door calls the same services; these tests pin the rules (admins only, the last admin stays,
removal deletes the folder roles, re-adding starts from none) and each door's answers.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from apps.core.errors import ServiceValidationError
from apps.core.models import OrganisationMember
from apps.core.selectors import organisation_member_list
from apps.core.services import (
    api_token_create, organisation_member_add, organisation_member_remove, organisation_member_set,
)
from apps.storage.models import FolderMember, FolderRole
from apps.storage.services.folders import folder_create, folder_member_set
from tests.factories import OrganisationFactory


@pytest.fixture
def team(org, make_user):
    """Acme: an admin (who created folders a and b), an editor of both, a plain member; the editor is also
    in Elsewhere (editor of its folder "theirs"), whose admin is ``outsider``."""
    admin = make_user(org, role="admin", email="admin@example.com")
    editor = make_user(org, email="editor@example.com")
    member = make_user(org, email="member@example.com")
    outsider = make_user(None, email="outsider@example.com")
    elsewhere = OrganisationFactory(name="Elsewhere")
    organisation_member_set(organisation=elsewhere, user=editor, role="member")
    elsewhere_folder = folder_create(user=editor, name="theirs", organisation=elsewhere)  # member in Elsewhere
    organisation_member_set(organisation=elsewhere, user=outsider, role="admin")
    folder_member_set(user=outsider, folder=elsewhere_folder, member=editor, role=FolderRole.EDITOR)
    for name in ("a", "b"):
        folder = folder_create(user=admin, name=name, organisation=org)
        folder_member_set(user=admin, folder=folder, member=editor, role=FolderRole.EDITOR)
    return {"org": org, "admin": admin, "editor": editor, "member": member, "outsider": outsider,
            "elsewhere": elsewhere}


def _roles(org) -> list[tuple[str, str]]:
    return list(OrganisationMember.objects.filter(organisation=org).order_by("user__email")
                .values_list("user__email", "role"))


# --------------------------------------------------------------------------- services


def test_removal_deletes_the_members_folder_roles_in_that_organisation_only(team):
    org, editor = team["org"], team["editor"]
    assert FolderMember.objects.filter(user=editor).count() == 3

    organisation_member_remove(organisation=org, user=editor, by=team["admin"])

    assert _roles(org) == [("admin@example.com", "admin"), ("member@example.com", "member")]
    assert list(FolderMember.objects.filter(user=editor).values_list("folder__name", "role")) == [("theirs", "editor")]


def test_re_adding_a_member_starts_with_no_folder_roles(team):
    org, editor = team["org"], team["editor"]
    organisation_member_remove(organisation=org, user=editor, by=team["admin"])

    member = organisation_member_add(organisation=org, email="EDITOR@example.com", role="member", by=team["admin"])

    assert (member.user, member.role) == (editor, "member")
    assert organisation_member_list(organisation=org).get(user=editor).folder_role_count == 0


def test_the_last_admin_can_be_neither_removed_nor_demoted(team):
    org, admin = team["org"], team["admin"]

    with pytest.raises(ServiceValidationError) as removed:
        organisation_member_remove(organisation=org, user=admin, by=admin)
    with pytest.raises(ServiceValidationError) as demoted:
        organisation_member_set(organisation=org, user=admin, role="member", by=admin)
    with pytest.raises(ServiceValidationError) as by_shell:
        organisation_member_remove(organisation=org, user=admin, by=None)

    message = "admin@example.com is the last admin of Acme and cannot be {}; make someone else an admin first."
    assert removed.value.message_dict == {"user": [message.format("removed")]}
    assert by_shell.value.message_dict == {"user": [message.format("removed")]}
    assert demoted.value.message_dict == {"role": [message.format("made a member")]}
    assert _roles(org)[0] == ("admin@example.com", "admin")


def test_an_admin_may_leave_once_another_admin_exists(team):
    org, admin = team["org"], team["admin"]
    organisation_member_set(organisation=org, user=team["member"], role="admin", by=admin)

    organisation_member_remove(organisation=org, user=admin, by=admin)

    assert _roles(org) == [("editor@example.com", "member"), ("member@example.com", "admin")]


def test_a_deactivated_admin_does_not_count_as_another_admin(team):
    org, admin, member = team["org"], team["admin"], team["member"]
    organisation_member_set(organisation=org, user=member, role="admin", by=admin)
    member.is_active = False
    member.save()

    with pytest.raises(ServiceValidationError):
        organisation_member_remove(organisation=org, user=admin, by=admin)


@pytest.mark.parametrize("by", ["editor", "member", "outsider"])
def test_only_an_admin_of_the_organisation_manages_its_members(team, by):
    org, before = team["org"], _roles(team["org"])
    caller = team[by]

    for write in (
        lambda: organisation_member_remove(organisation=org, user=team["member"], by=caller),
        lambda: organisation_member_set(organisation=org, user=team["member"], role="admin", by=caller),
        lambda: organisation_member_add(organisation=org, email="outsider@example.com", role="admin", by=caller),
    ):
        with pytest.raises(PermissionDenied):
            write()

    assert _roles(org) == before


def test_add_refuses_unknown_users_existing_members_and_bad_roles(team):
    org, admin, before = team["org"], team["admin"], _roles(team["org"])
    cases = {
        "nobody@example.com": ("member", {"email": ["No Loupe user has this email address."]}),
        "member@example.com": ("member", {"email": ["member@example.com is already a member; change their role "
                                                    "instead."]}),
        "outsider@example.com": ("owner", {"role": ["must be one of member, admin"]}),
        " ": ("member", {"email": ["Enter the email address of an existing Loupe user."]}),
    }
    for email, (role, errors) in cases.items():
        with pytest.raises(ServiceValidationError) as refused:
            organisation_member_add(organisation=org, email=email, role=role, by=admin)
        assert refused.value.message_dict == errors
    assert _roles(org) == before


def test_removing_someone_not_in_the_organisation_is_refused(team):
    with pytest.raises(ServiceValidationError) as refused:
        organisation_member_remove(organisation=team["org"], user=team["outsider"], by=team["admin"])
    assert refused.value.message_dict == {"user": ["outsider@example.com is not a member of Acme."]}


# --------------------------------------------------------------------------- REST API


def _api(client, user):
    token = api_token_create(user=user, name="t")[1]
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {token}"
    return client


URL = "/api/v1/organisation/members"


def test_api_lists_members_for_every_member(team, client):
    response = _api(client, team["member"]).get(URL)

    assert response.status_code == 200
    rows = [(m["email"], m["role"], m["folder_roles"], m["is_active"]) for m in response.json()]
    assert rows == [("admin@example.com", "admin", 2, True), ("editor@example.com", "member", 2, True),
                    ("member@example.com", "member", 0, True)]
    assert sorted(response.json()[0]) == ["email", "folder_roles", "is_active", "joined_at", "name", "role", "user"]


def test_api_admin_adds_changes_and_removes(team, client):
    org, api, outsider, editor = team["org"], _api(client, team["admin"]), team["outsider"], team["editor"]

    added = api.post(URL, {"email": "outsider@example.com", "role": "member"}, content_type="application/json")
    changed = api.patch(f"{URL}/{outsider.pk}", {"role": "admin"}, content_type="application/json")
    removed = api.delete(f"{URL}/{editor.pk}")

    assert added.status_code == 201 and added.json()["user"] == outsider.pk and added.json()["role"] == "member"
    assert (changed.status_code, changed.json()["role"]) == (200, "admin")
    assert removed.status_code == 204
    assert _roles(org) == [("admin@example.com", "admin"), ("member@example.com", "member"),
                           ("outsider@example.com", "admin")]
    assert FolderMember.objects.filter(user=editor, folder__organisation=org).count() == 0


def test_api_non_admin_gets_403_and_nothing_changes(team, client):
    org, before = team["org"], _roles(team["org"])
    query = f"?organisation={org.pk}"  # the editor is in two organisations
    member_api, editor_api = _api(client, team["member"]), _api(client.__class__(), team["editor"])
    editor, member = team["editor"], team["member"]

    answers = [
        member_api.post(URL, {"email": "outsider@example.com", "role": "admin"}, content_type="application/json"),
        member_api.post(URL, {"email": "not an email"}, content_type="application/json"),
        member_api.patch(f"{URL}/{member.pk}", {"role": "admin"}, content_type="application/json"),
        member_api.patch(f"{URL}/{team['outsider'].pk}", {"role": "admin"}, content_type="application/json"),
        member_api.delete(f"{URL}/{editor.pk}"),
        editor_api.delete(f"{URL}/{member.pk}{query}"),
        editor_api.patch(f"{URL}/{editor.pk}{query}", {"role": "admin"}, content_type="application/json"),
    ]

    assert [(r.status_code, r.json()) for r in answers] == [
        (403, {"detail": "Only organisation admins can manage its members."})] * 7
    assert _roles(org) == before
    assert FolderMember.objects.filter(user=editor, folder__organisation=org).count() == 2


def test_api_answers_404_for_a_user_not_in_the_organisation(team, client):
    api = _api(client, team["admin"])
    outsider = team["outsider"]

    answers = [api.get(f"{URL}/{outsider.pk}"), api.patch(f"{URL}/{outsider.pk}", {"role": "admin"},
                                                          content_type="application/json"),
               api.delete(f"{URL}/{outsider.pk}"), api.delete(f"{URL}/999999999999999999"),
               api.delete(f"{URL}/9999999999999999999999"), api.delete(f"{URL}/abc")]

    assert [r.status_code for r in answers] == [404] * 6
    assert OrganisationMember.objects.filter(user=outsider).count() == 1  # their own organisation's


def test_api_400s_name_the_field(team, client):
    org, admin, before = team["org"], team["admin"], _roles(team["org"])
    api = _api(client, admin)

    answers = {
        "unknown": api.post(URL, {"email": "nobody@example.com"}, content_type="application/json"),
        "bad_role": api.post(URL, {"email": "outsider@example.com", "role": "owner"}, content_type="application/json"),
        "last_admin_demoted": api.patch(f"{URL}/{admin.pk}", {"role": "member"}, content_type="application/json"),
        "last_admin_removed": api.delete(f"{URL}/{admin.pk}"),
        "bad_organisation": api.get(f"{URL}?organisation=nope"),
        "empty_organisation": api.get(f"{URL}?organisation="),
    }

    assert {name: (r.status_code, sorted(r.json())) for name, r in answers.items()} == {
        "unknown": (400, ["email"]), "bad_role": (400, ["role"]), "last_admin_demoted": (400, ["role"]),
        "last_admin_removed": (400, ["user"]), "bad_organisation": (400, ["organisation"]),
        "empty_organisation": (400, ["organisation"]),
    }
    assert _roles(org) == before


def test_api_needs_the_organisation_named_when_the_caller_has_several(team, client):
    api = _api(client, team["editor"])  # in Acme and Elsewhere

    ambiguous = api.get(URL)
    named = api.get(f"{URL}?organisation={team['elsewhere'].pk}")

    assert (ambiguous.status_code, ambiguous.json()) == (
        400, {"organisation": ["You belong to several organisations: name one."]})
    assert [m["email"] for m in named.json()] == ["editor@example.com", "outsider@example.com"]


def test_members_endpoints_are_in_the_openapi_schema(team, client):
    """Each operation documents the answers it gives (at least: a schema-wide hook may add the generic ones)."""
    schema = _api(client, team["admin"]).get("/api/schema?format=json").json()
    listing = schema["paths"]["/api/v1/organisation/members"]
    detail = schema["paths"]["/api/v1/organisation/members/{user}"]

    assert sorted(method for method in (listing | detail) if method != "parameters") == [
        "delete", "get", "patch", "post"]
    assert sorted(listing) == ["get", "post"] and sorted(detail) == ["delete", "get", "patch"]
    documented = {"list": listing["get"], "create": listing["post"], "retrieve": detail["get"],
                  "update": detail["patch"], "remove": detail["delete"]}
    expected = {"list": {"200", "400"}, "create": {"201", "400", "403"}, "retrieve": {"200", "400", "404"},
                "update": {"200", "400", "403", "404"}, "remove": {"204", "400", "403", "404"}}
    assert {name: expected[name] - set(op["responses"]) for name, op in documented.items()} == dict.fromkeys(
        expected, set())
    assert schema["components"]["schemas"]["OrganisationRoleEnum"]["enum"] == ["member", "admin"]
    assert schema["components"]["schemas"]["RoleEnum"]["enum"] == ["viewer", "editor", "admin"]


# --------------------------------------------------------------------------- the members page


PAGE = "/organisation/members/"


def test_page_shows_admins_the_controls_and_members_a_read_only_list(team, client):
    client.force_login(team["admin"])
    as_admin = client.get(PAGE).content.decode()
    client.force_login(team["member"])
    as_member = client.get(PAGE)

    assert as_member.status_code == 200
    html = as_member.content.decode()
    for email in ("admin@example.com", "editor@example.com", "member@example.com"):
        assert email in html and email in as_admin
    assert "outsider@example.com" not in html
    assert ('id="member-add-form"' in as_admin, 'id="member-add-form"' in html) == (True, False)
    assert (as_admin.count(">Remove</button>"), html.count(">Remove</button>")) == (3, 0)
    assert "Only the organisation's admins can change this list." in html


def test_page_admin_adds_changes_and_removes_with_htmx(team, client):
    org, admin, outsider, editor = team["org"], team["admin"], team["outsider"], team["editor"]
    client.force_login(admin)
    htmx = {"HTTP_HX_REQUEST": "true"}

    added = client.post("/organisation/members/add", {"email": "outsider@example.com", "role": "member"}, **htmx)
    changed = client.post(f"/organisation/members/{outsider.pk}/role", {"role": "admin"}, **htmx)
    removed = client.post(f"/organisation/members/{editor.pk}/remove", **htmx)

    assert [r.status_code for r in (added, changed, removed)] == [200, 200, 200]
    assert 'id="members-panel"' in removed.content.decode() and "<html" not in removed.content.decode()
    assert _roles(org) == [("admin@example.com", "admin"), ("member@example.com", "member"),
                           ("outsider@example.com", "admin")]
    assert FolderMember.objects.filter(user=editor, folder__organisation=org).count() == 0


def test_page_without_js_redirects_with_a_message(team, client):
    client.force_login(team["admin"])

    response = client.post(f"/organisation/members/{team['editor'].pk}/remove", follow=True)

    assert response.redirect_chain == [(f"{PAGE}?organisation={team['org'].pk}", 302)]
    assert "editor@example.com removed from Acme." in response.content.decode()


def test_page_errors_come_back_in_the_panel_with_400(team, client):
    org, admin, before = team["org"], team["admin"], _roles(team["org"])
    client.force_login(admin)
    htmx = {"HTTP_HX_REQUEST": "true"}

    unknown = client.post("/organisation/members/add", {"email": "nobody@example.com", "role": "member"}, **htmx)
    last = client.post(f"/organisation/members/{admin.pk}/remove", **htmx)

    assert (unknown.status_code, last.status_code) == (400, 400)
    assert "No Loupe user has this email address." in unknown.content.decode()
    assert "admin@example.com is the last admin of Acme and cannot be removed" in last.content.decode()
    assert _roles(org) == before


def test_page_writes_by_a_non_admin_are_403(team, client):
    org, before = team["org"], _roles(team["org"])
    client.force_login(team["member"])

    answers = [client.post("/organisation/members/add", {"email": "outsider@example.com", "role": "admin"}),
               client.post(f"/organisation/members/{team['member'].pk}/role", {"role": "admin"}),
               client.post(f"/organisation/members/{team['editor'].pk}/remove")]

    assert [r.status_code for r in answers] == [403, 403, 403]
    assert _roles(org) == before


def test_page_answers_404_for_a_user_not_in_the_organisation(team, client):
    client.force_login(team["admin"])

    answers = [client.post(f"/organisation/members/{team['outsider'].pk}/remove"),
               client.post("/organisation/members/99999999999999999999999/remove"),
               client.get(f"{PAGE}?organisation={team['elsewhere'].pk}")]  # not the admin's organisation

    assert [r.status_code for r in answers] == [404, 404, 404]


def test_page_needs_csrf(team):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(team["admin"])

    response = client.post(f"/organisation/members/{team['editor'].pk}/remove")

    assert response.status_code == 403
    assert OrganisationMember.objects.filter(organisation=team["org"], user=team["editor"]).exists()


def test_an_admin_who_leaves_is_sent_home(team, client):
    org, admin = team["org"], team["admin"]
    organisation_member_set(organisation=org, user=team["member"], role="admin", by=admin)
    client.force_login(admin)

    response = client.post(f"/organisation/members/{admin.pk}/remove", HTTP_HX_REQUEST="true")

    assert (response.status_code, response["HX-Redirect"]) == (204, "/")
    assert client.get(PAGE).status_code == 404  # no organisation left to show


@pytest.mark.django_db(transaction=True)
def test_two_admins_removing_each_other_at_once_leave_one_admin(org, make_user):
    """Each removal checks "another admin exists" and deletes under a lock on the organisation's row, so
    two admins removing each other concurrently cannot leave the organisation with no admin."""
    import threading

    from django.db import connection

    first = make_user(org, role="admin", email="a@example.com")
    second = make_user(org, role="admin", email="b@example.com")
    barrier, outcomes = threading.Barrier(2), {}

    def remove(user, by):
        try:
            barrier.wait()
            organisation_member_remove(organisation=org, user=user, by=by)
            outcomes[by.email] = "removed"
        except (PermissionDenied, ServiceValidationError) as exc:
            outcomes[by.email] = type(exc).__name__
        finally:
            connection.close()

    threads = [threading.Thread(target=remove, args=(second, first)),
               threading.Thread(target=remove, args=(first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(outcomes.values()) == ["PermissionDenied", "removed"]  # the loser is no longer an admin
    assert OrganisationMember.objects.filter(organisation=org, role="admin").count() == 1


def test_another_organisations_admin_can_neither_see_nor_change_its_members(team, client):
    """Outsider administers Elsewhere only: Acme's members are out of reach by every door."""
    org, before = team["org"], _roles(team["org"])
    outsider, admin = team["outsider"], team["admin"]
    api = _api(client.__class__(), outsider)
    client.force_login(outsider)
    acme = f"organisation={org.pk}"

    api_answers = [api.get(f"{URL}?{acme}"), api.delete(f"{URL}/{admin.pk}?{acme}"),
                   api.delete(f"{URL}/{admin.pk}"),  # their own organisation: admin is not in it
                   api.post(f"{URL}?{acme}", {"email": "outsider@example.com"}, content_type="application/json")]
    page_answers = [client.get(f"{PAGE}?{acme}"),
                    client.post(f"/organisation/members/{admin.pk}/remove", {"organisation": str(org.pk)}),
                    client.post(f"/organisation/members/{admin.pk}/remove")]

    assert [(r.status_code, r.json()) for r in api_answers] == [
        (400, {"organisation": ["Unknown organisation."]}), (400, {"organisation": ["Unknown organisation."]}),
        (404, {"detail": "No member of the organisation has that user id."}),
        (400, {"organisation": ["Unknown organisation."]})]
    assert [r.status_code for r in page_answers] == [404, 404, 404]
    assert _roles(org) == before


def test_page_shows_the_organisation_asked_for_with_a_picker(team, client):
    """Someone in two organisations gets a picker; the page shows the one named, read-only where they
    are a plain member."""
    client.force_login(team["editor"])  # a member of Acme and of Elsewhere

    default = client.get(PAGE).content.decode()
    elsewhere = client.get(f"{PAGE}?organisation={team['elsewhere'].pk}").content.decode()

    assert 'id="organisation-form"' in default
    assert ("admin@example.com" in default, "outsider@example.com" in default) == (True, False)
    assert ("admin@example.com" in elsewhere, "outsider@example.com" in elsewhere) == (False, True)
    assert 'id="member-add-form"' not in default and 'id="member-add-form"' not in elsewhere
