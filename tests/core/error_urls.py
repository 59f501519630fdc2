"""Loupe's URLs plus two that fail on purpose, for the error-page tests (``@pytest.mark.urls``)."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from config import urls as loupe_urls


def _fail(request):
    raise RuntimeError("secret-detail-that-must-not-leak")


urlpatterns = [
    path("fail", login_not_required(_fail)),
    path("api/v1/fail", login_not_required(_fail)),
    *loupe_urls.urlpatterns,
]
handler400 = loupe_urls.handler400
handler403 = loupe_urls.handler403
handler404 = loupe_urls.handler404
handler500 = loupe_urls.handler500
