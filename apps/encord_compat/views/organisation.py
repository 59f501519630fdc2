"""Organisation-level routes: the metadata schema (v2 and legacy) and the storage integrations."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.response import Response

from apps.encord_compat.base import EncordView, caller_organisation, param_list
from apps.metadata.models import KeyState
from apps.metadata.selectors import schema_keys, schema_sdk_body
from apps.metadata.services.schema import schema_save
from apps.metadata.validation import schema_to_legacy
from apps.storage.services.integrations import integration_list_for_user


def _json_null() -> HttpResponse:
    """A JSON ``null`` body: DRF renders ``Response(None)`` as an empty body, which the SDK cannot parse."""
    return HttpResponse(b"null", content_type="application/json")


class SchemaV2View(EncordView):
    def get(self, request):
        """``user_client.metadata_schema()``: the whole schema, tombstones included, or null."""
        body = schema_sdk_body(organisation=caller_organisation(request.user))
        return _json_null() if body is None else Response(body)

    def post(self, request):
        """``MetadataSchema.save()``: the body is the whole schema (organisation admins)."""
        schema_save(user=request.user, organisation=caller_organisation(request.user), body=request.data)
        return Response(status=204)


class SchemaLegacyView(EncordView):
    def get(self, request):
        """``get_client_metadata_schema()``: ``{uuid, metadataSchema: {key: type}, ...}`` or null."""
        organisation = caller_organisation(request.user)
        keys = [key for key in schema_keys(organisation=organisation) if key.state == KeyState.ACTIVE]
        if not keys:
            return _json_null()
        return Response({
            "uuid": str(organisation.pk),
            "metadataSchema": schema_to_legacy(key.spec() for key in keys),
            "organisationId": 0,
            "createdAt": min(key.created_at for key in keys).isoformat(),
            "updatedAt": max(key.updated_at for key in keys).isoformat(),
        })

    def post(self, request):
        """``set_client_metadata_schema_from_dict({key: type})``: the flat form replaces the schema."""
        schema_save(user=request.user, organisation=caller_organisation(request.user), body=request.data)
        return Response(status=204)


class CloudIntegrationsView(EncordView):
    def get(self, request):
        """``get_cloud_integrations()``: Loupe's storage integrations, the ids ``add_private_data`` takes."""
        uuids = set(param_list(request, "filterIntegrationUuids"))
        titles = set(param_list(request, "filterIntegrationTitles"))
        result = [
            {"integrationUuid": str(integration.pk), "title": integration.name}
            for integration in integration_list_for_user(user=request.user)
            if (not uuids or str(integration.pk) in uuids) and (not titles or integration.name in titles)
        ]
        return Response({"result": result})
