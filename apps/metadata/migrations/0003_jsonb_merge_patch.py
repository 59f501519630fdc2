"""loupe_jsonb_merge_patch(target, patch): RFC 7386 JSON merge-patch, evaluated inside PostgreSQL.

Merges run as ``UPDATE ... SET client_metadata = loupe_jsonb_merge_patch(client_metadata, patch)``
on the locked row, so concurrent merges of one item compose instead of overwriting each other.
"""

from django.db import migrations

CREATE = r"""
CREATE OR REPLACE FUNCTION loupe_jsonb_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    k text;
    v jsonb;
    result jsonb;
BEGIN
    IF patch IS NULL OR jsonb_typeof(patch) <> 'object' THEN
        RETURN patch;
    END IF;
    IF target IS NULL OR jsonb_typeof(target) <> 'object' THEN
        result := '{}'::jsonb;
    ELSE
        result := target;
    END IF;
    FOR k, v IN SELECT key, value FROM jsonb_each(patch) LOOP
        IF jsonb_typeof(v) = 'null' THEN
            result := result - k;
        ELSE
            result := jsonb_set(result, ARRAY[k], loupe_jsonb_merge_patch(result -> k, v), true);
        END IF;
    END LOOP;
    RETURN result;
END
$$;
"""
DROP = "DROP FUNCTION IF EXISTS loupe_jsonb_merge_patch(jsonb, jsonb);"


class Migration(migrations.Migration):
    dependencies = [
        ('metadata', '0002_frames_and_history'),
    ]
    operations = [migrations.RunSQL(CREATE, DROP)]
