"""Cursor pagination: stable under inserts, cheap at any depth (no OFFSET scans)."""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination


class CursorPage(CursorPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-created_at"

    def get_page_size(self, request):
        """``page_size`` as asked (at most ``max_page_size``); one that is not a whole number from 1 is a
        400 rather than silently the default, so a typo does not look like a short listing."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18) or int(raw) < 1:
            raise ValidationError({self.page_size_query_param: [f"A whole number from 1, not {raw[:40]!r}."]})
        return min(int(raw), self.max_page_size)
