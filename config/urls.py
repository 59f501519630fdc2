from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core import views as core_views
from apps.encord_compat.views.legacy import LegacyRpcView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(template_name="core/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", login_not_required(core_views.healthz), name="healthz"),
    path("account/", include("apps.core.urls")),
    path("organisation/", include("apps.core.urls_organisation")),
    path("api/v1/", include("config.api_router")),
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("v2/public/", include("apps.encord_compat.urls")),
    path("public", LegacyRpcView.as_view()),
    path("public/user", LegacyRpcView.as_view()),
    path("metadata/", include("apps.metadata.urls")),
    path("explore/", include("apps.explorer.urls")),
    path("folders/", include("apps.explorer.urls_folders")),
    path("", include("apps.imports.urls")),
    path("", include("apps.storage.urls")),
]

# Errors no view answered: JSON under /api/ and the Encord routes, a Loupe page elsewhere.
handler400 = "apps.core.error_pages.bad_request"
handler403 = "apps.core.error_pages.permission_denied"
handler404 = "apps.core.error_pages.page_not_found"
handler500 = "apps.core.error_pages.server_error"
