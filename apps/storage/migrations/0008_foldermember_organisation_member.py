"""Folder roles hang off the organisation membership they were given under (deleted with it).

Existing rows are linked to their user's membership of the folder's organisation; rows with no such
membership are folder roles that outlived the membership (they granted nothing since access started
requiring a current membership) and are deleted.
"""

import django.db.models.deletion
from django.db import migrations, models


def link_memberships(apps, schema_editor):
    FolderMember = apps.get_model("storage", "FolderMember")
    OrganisationMember = apps.get_model("core", "OrganisationMember")
    membership = OrganisationMember.objects.filter(
        organisation_id=models.OuterRef("folder__organisation_id"), user_id=models.OuterRef("user_id")
    ).values("pk")[:1]
    FolderMember.objects.filter(~models.Exists(membership)).delete()
    FolderMember.objects.update(organisation_member_id=models.Subquery(
        OrganisationMember.objects.filter(
            organisation_id=models.Subquery(
                apps.get_model("storage", "Folder").objects.filter(pk=models.OuterRef(models.OuterRef("folder_id")))
                .values("organisation_id")[:1]),
            user_id=models.OuterRef("user_id"),
        ).values("pk")[:1]
    ))


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_vector_extension"),
        ("storage", "0007_job_lease"),
    ]

    operations = [
        migrations.AddField(
            model_name="foldermember",
            name="organisation_member",
            field=models.ForeignKey(
                null=True, editable=False, on_delete=django.db.models.deletion.CASCADE,
                related_name="folder_roles", to="core.organisationmember",
            ),
        ),
        migrations.RunPython(link_memberships, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="foldermember",
            name="organisation_member",
            field=models.ForeignKey(
                editable=False, on_delete=django.db.models.deletion.CASCADE,
                related_name="folder_roles", to="core.organisationmember",
            ),
        ),
    ]
