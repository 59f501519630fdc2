"""pgvector is needed by the metadata app's embedding tables; enable it once, early."""

from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [VectorExtension()]
