"""Every REST resource under /api/v1/."""

from django.urls import re_path
from rest_framework.routers import DefaultRouter

from apps.core.api.helpers import UUID_REGEX
from apps.core.api.members import OrganisationMemberViewSet
from apps.core.api.views import ApiTokenViewSet, OrganisationViewSet, PublicKeyViewSet
from apps.explorer.api.selection import ExploreBulkEditView, ExploreExportView, ExploreMoveView, ExploreTrashView
from apps.explorer.api.facets import ExploreCountView, ExploreFacetsView
from apps.explorer.api.items import FolderItemViewSet
from apps.explorer.api.views import ExploreSearchView
from apps.explorer.api.views_saved import SavedViewViewSet
from apps.imports.api.views import IMPORT_ERRORS_CSV_RENDERERS, FolderImportViewSet, ImportJobViewSet
from apps.metadata.api.items import (
    ItemFramesView,
    ItemMetadataHistoryView,
    ItemMetadataView,
    MetadataBulkView,
    MetadataChangeRevertView,
)
from apps.metadata.api.jobs import MetadataJobViewSet
from apps.metadata.api.views import SchemaKeyViewSet, SchemaView
from apps.explorer.api.projections import (
    ProjectionPointsView,
    ProjectionRecomputeView,
    ProjectionStatusView,
    ProjectionValuesView,
)

from apps.explorer.api.duplicates import DuplicateGroupsView, DuplicateResolveView, DuplicateScanView
from apps.storage.api.items import IntegrationViewSet, ItemViewSet
from apps.storage.api.views import FolderViewSet

router = DefaultRouter(trailing_slash=False)
router.register("organisations", OrganisationViewSet, basename="organisation")
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("keys", PublicKeyViewSet, basename="key")
router.register("organisation/members", OrganisationMemberViewSet, basename="organisation-member")
router.register("folders", FolderViewSet, basename="folder")
router.register(rf"folders/(?P<folder_uuid>{UUID_REGEX})/items", FolderItemViewSet, basename="folder-item")
router.register(rf"folders/(?P<folder_uuid>{UUID_REGEX})/imports", FolderImportViewSet, basename="folder-import")
router.register("items", ItemViewSet, basename="item")
router.register("imports", ImportJobViewSet, basename="import-job")
router.register("integrations", IntegrationViewSet, basename="integration")
router.register("metadata/schema/keys", SchemaKeyViewSet, basename="metadata-key")
router.register("metadata/jobs", MetadataJobViewSet, basename="metadata-job")
router.register("explore/views", SavedViewViewSet, basename="explore-view")

urlpatterns = [
    # Before the router: its format-suffix pattern for .../errors would otherwise answer .../errors.csv.
    re_path(
        rf"^imports/(?P<uuid>{UUID_REGEX})/errors\.csv$",
        ImportJobViewSet.as_view({"get": "errors_csv"}, renderer_classes=IMPORT_ERRORS_CSV_RENDERERS),
        name="import-job-errors-csv",
    ),
    re_path(r"^explore/search$", ExploreSearchView.as_view(), name="explore-search"),
    re_path(r"^explore/bulk-edit$", ExploreBulkEditView.as_view(), name="explore-bulk-edit"),
    re_path(r"^explore/move$", ExploreMoveView.as_view(), name="explore-move"),
    re_path(r"^explore/trash$", ExploreTrashView.as_view(), name="explore-trash"),
    re_path(r"^explore/export$", ExploreExportView.as_view(), name="explore-export"),
    re_path(r"^explore/facets$", ExploreFacetsView.as_view(), name="explore-facets"),
    re_path(r"^explore/count$", ExploreCountView.as_view(), name="explore-count"),
    re_path(r"^similarity/projections/(?P<key>[^/]+)$", ProjectionPointsView.as_view(), name="projection-points"),
    re_path(r"^similarity/projections/(?P<key>[^/]+)/status$", ProjectionStatusView.as_view(),
            name="projection-status"),
    re_path(r"^similarity/projections/(?P<key>[^/]+)/values$", ProjectionValuesView.as_view(),
            name="projection-values"),
    re_path(r"^similarity/projections/(?P<key>[^/]+)/recompute$", ProjectionRecomputeView.as_view(),
            name="projection-recompute"),
    re_path(r"^metadata/schema$", SchemaView.as_view(), name="metadata-schema"),
    re_path(r"^similarity/duplicates$", DuplicateGroupsView.as_view(), name="similarity-duplicates"),
    re_path(r"^similarity/duplicates/scan$", DuplicateScanView.as_view(), name="similarity-duplicates-scan"),
    re_path(r"^similarity/duplicates/(?P<group>[0-9]{1,18})/resolve$", DuplicateResolveView.as_view(),
            name="similarity-duplicates-resolve"),
    re_path(r"^metadata/bulk$", MetadataBulkView.as_view(), name="metadata-bulk"),
    re_path(rf"^items/(?P<uuid>{UUID_REGEX})/metadata$", ItemMetadataView.as_view(), name="item-metadata"),
    re_path(rf"^items/(?P<uuid>{UUID_REGEX})/metadata/history$", ItemMetadataHistoryView.as_view(),
            name="item-metadata-history"),
    re_path(rf"^items/(?P<uuid>{UUID_REGEX})/metadata/history/(?P<change>[0-9]+)/revert$",
            MetadataChangeRevertView.as_view(), name="item-metadata-revert"),
    re_path(rf"^items/(?P<uuid>{UUID_REGEX})/frames$", ItemFramesView.as_view(), name="item-frames"),
    *router.urls,
]
