"""``loupe_jsonb_instant(jsonb) -> timestamptz``: a metadata value as an instant, or NULL.

Datetime keys compare as instants, but ``(m->>'k')::timestamptz`` is not IMMUTABLE (an offset-less text
depends on the session's TimeZone), so it cannot back an expression index, and it raises on bad text.
This function accepts the ISO 8601 shapes Loupe's validator accepts (date, date and time to the
minute/second/fraction, ``Z`` or an offset; no offset means UTC, as the validator stores it), checks
every field's range so the final cast cannot raise (an index expression that raises would make writes
fail), and returns NULL for anything else: not a string, another shape, 2026-02-30.
"""

from django.db import migrations

CREATE = r"""
CREATE OR REPLACE FUNCTION loupe_jsonb_instant(value jsonb) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    m text[];
    y int; mo int; d int;
BEGIN
    IF jsonb_typeof(value) <> 'string' THEN
        RETURN NULL;
    END IF;
    m := regexp_match(value #>> ARRAY[]::text[],
        '^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?(Z|[+-](\d{2})(?::?(\d{2}))?)?)?$');
    IF m IS NULL THEN
        RETURN NULL;
    END IF;
    y := m[1]::int; mo := m[2]::int; d := m[3]::int;
    IF y < 1 OR mo < 1 OR mo > 12 OR d < 1
       OR d > extract(day FROM (make_date(y, mo, 1) + interval '1 month - 1 day'))::int
       OR coalesce(m[4]::int, 0) > 23 OR coalesce(m[5]::int, 0) > 59 OR coalesce(m[6]::int, 0) > 59
       OR coalesce(m[9]::int, 0) > 15 OR coalesce(m[10]::int, 0) > 59 THEN
        RETURN NULL;
    END IF;
    RETURN (m[1] || '-' || m[2] || '-' || m[3] || 'T' || coalesce(m[4], '00') || ':' || coalesce(m[5], '00')
            || ':' || coalesce(m[6], '00') || coalesce(m[7], '')
            || CASE WHEN m[8] IS NULL OR m[8] = 'Z' THEN '+00:00'
                    ELSE substr(m[8], 1, 1) || m[9] || ':' || coalesce(m[10], '00') END)::timestamptz;
END
$fn$;
"""


class Migration(migrations.Migration):
    dependencies = [("metadata", "0007_job_lease")]

    operations = [
        migrations.RunSQL(CREATE, "DROP FUNCTION IF EXISTS loupe_jsonb_instant(jsonb);"),
    ]
