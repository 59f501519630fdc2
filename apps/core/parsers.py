"""The JSON parser of every DRF view (``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]`` and the views that
name their parsers): DRF's, with ``apps.core.json_input``'s rules, so a body the database or the
renderer could not take is a 400 that names the place, never a 500 further in."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from apps.core.json_input import JsonInputError, json_loads


class StrictJSONParser(JSONParser):
    """``application/json`` bodies read with ``json_loads``: 400 ``{"detail": "JSON parse error - at $.x: ..."}``."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return json_loads(stream.read())
        except JsonInputError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
