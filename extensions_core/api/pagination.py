"""Page-number pagination for short lists (?page=N&page_size=M, at most 500); cursors for long histories."""

from rest_framework.pagination import CursorPagination, PageNumberPagination


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class NewestFirstCursorPagination(CursorPagination):
    """Cursor pagination, newest first: no COUNT and no OFFSET, so a page costs the same on row 10 or 10,000,000.

    ?cursor= comes from the `next`/`previous` links; ?page_size=N (at most 500).
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def __init__(self, ordering: tuple[str, ...] = ("-queued_at", "-id")) -> None:
        self.ordering = ordering
