"""Every REST resource under /api/v1/."""

from rest_framework.routers import DefaultRouter

from apps.core.api.views import ApiTokenViewSet, OrganisationViewSet, PublicKeyViewSet
from apps.storage.api.views import FolderViewSet

router = DefaultRouter(trailing_slash=False)
router.register("organisations", OrganisationViewSet, basename="organisation")
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("keys", PublicKeyViewSet, basename="key")
router.register("folders", FolderViewSet, basename="folder")

urlpatterns = router.urls
