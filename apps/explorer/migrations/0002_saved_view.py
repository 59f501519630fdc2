"""Saved views (``apps.explorer.models.SavedView``) with their name uniqueness in the database."""

import django.db.models.deletion
import django.db.models.functions.text
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0002_vector_extension'),
        ('explorer', '0001_jsonb_instant'),
        ('storage', '0008_foldermember_organisation_member'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='SavedView',
            fields=[
                ('uuid', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('name', models.CharField(max_length=200)),
                ('shared', models.BooleanField(default=False, help_text='Visible to every member of the organisation.')),
                ('recursive', models.BooleanField(default=True, help_text="Include the scope folder's subfolders.")),
                ('filter', models.JSONField(blank=True, help_text='A filter tree (apps.explorer.filters).', null=True)),
                ('q', models.TextField(blank=True, help_text='A written expression (apps.explorer.expression).', null=True)),
                ('sort', models.JSONField(blank=True, help_text='[{"key"|"field": ..., "desc": bool}]; None: default.', null=True)),
                ('layout', models.CharField(choices=[('grid', 'Grid'), ('table', 'Table')], default='grid', max_length=8)),
                ('columns', models.JSONField(blank=True, default=list, help_text='Table columns: [{"key"|"field": ...}].')),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='saved_views', to='core.organisation')),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='saved_views', to=settings.AUTH_USER_MODEL)),
                ('scope_folder', models.ForeignKey(blank=True, help_text='None: the whole organisation.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='storage.folder')),
            ],
            options={
                'ordering': ['name', 'uuid'],
                'indexes': [models.Index(fields=['organisation', 'shared'], name='saved_view_org_shared')],
                'constraints': [models.UniqueConstraint(django.db.models.functions.text.Lower('name'), models.F('organisation'), models.F('owner'), name='unique_saved_view_name_per_owner'), models.UniqueConstraint(django.db.models.functions.text.Lower('name'), models.F('organisation'), condition=models.Q(('shared', True)), name='unique_shared_saved_view_name'), models.CheckConstraint(condition=models.Q(('name', ''), _negated=True), name='saved_view_name_not_blank'), models.CheckConstraint(condition=models.Q(('layout__in', ['grid', 'table'])), name='saved_view_layout_known')],
            },
        ),
    ]
