"""``loupe_jsonb_instant`` without a capturing regular expression: the same answers, ~100x cheaper.

PostgreSQL's ``regexp_match`` with capture groups over the ISO 8601 pattern of ``0001`` cost ~1.5 ms a
value on this machine class (measured at 1,000,000 items: a datetime range's first page took 10-13 s,
its index build minutes), where a plain ``~`` test of the same shape costs ~10 us. The fields sit at
fixed places once the shape is known, so this version checks the shape with ``~`` and cuts them out
with ``substr``. The checks (every field in range, so the final cast never raises) and the results are
unchanged; the function keeps its name and signature, so the indexes over it stay valid.

``COST 1000`` (plpgsql's default is 100): still ~10-50 us a call, so a datetime range must come from
the key's index, not from filtering rows read in another order (measured at 1M items: a two-week range
sorted by created, 1,138 ms filtering the created order, 246 ms from the key's index, same load).
"""

from django.db import migrations

import importlib

_jsonb_instant_0001 = importlib.import_module("apps.explorer.migrations.0001_jsonb_instant")  # the reverse

CREATE = r"""
CREATE OR REPLACE FUNCTION loupe_jsonb_instant(value jsonb) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $fn$
DECLARE
    s text; rest text; zone text;
    y int; mo int; d int; hh int := 0; mi int := 0; ss int := 0; zh int := 0; zm int := 0;
BEGIN
    IF jsonb_typeof(value) <> 'string' THEN
        RETURN NULL;
    END IF;
    s := value #>> ARRAY[]::text[];
    IF s !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?$' THEN
        RETURN NULL;
    END IF;
    y := substr(s, 1, 4)::int; mo := substr(s, 6, 2)::int; d := substr(s, 9, 2)::int;
    rest := '';
    IF length(s) > 10 THEN
        hh := substr(s, 12, 2)::int; mi := substr(s, 15, 2)::int;
        rest := substr(s, 17);  -- [:SS[.ffffff]][zone]
        IF substr(rest, 1, 1) = ':' THEN
            ss := substr(rest, 2, 2)::int;
        END IF;
        zone := substring(rest FROM '[Z+-].*$');
        IF zone IS NOT NULL AND zone <> 'Z' THEN
            zh := substr(zone, 2, 2)::int;
            zm := CASE WHEN length(zone) > 3 THEN right(zone, 2)::int ELSE 0 END;
        END IF;
    END IF;
    IF y < 1 OR mo < 1 OR mo > 12 OR d < 1
       OR d > extract(day FROM (make_date(y, mo, 1) + interval '1 month - 1 day'))::int
       OR hh > 23 OR mi > 59 OR ss > 59 OR zh > 15 OR zm > 59 THEN
        RETURN NULL;
    END IF;
    RETURN (substr(s, 1, 10) || 'T' || lpad(hh::text, 2, '0') || ':' || lpad(mi::text, 2, '0') || ':'
            || lpad(ss::text, 2, '0') || coalesce(substring(rest FROM '\.[0-9]+'), '')
            || CASE WHEN zone IS NULL OR zone = 'Z' THEN '+00:00'
                    ELSE substr(zone, 1, 1) || lpad(zh::text, 2, '0') || ':' || lpad(zm::text, 2, '0') END)::timestamptz;
END
$fn$;
"""


class Migration(migrations.Migration):
    dependencies = [("explorer", "0002_saved_view")]

    operations = [
        migrations.RunSQL(CREATE, _jsonb_instant_0001.CREATE),
    ]
