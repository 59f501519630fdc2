"""OpenAPI descriptions of Loupe's authentication schemes (loaded by CoreConfig.ready), and the error
answers every operation shares (a postprocessing hook named in SPECTACULAR_SETTINGS)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`Token <token>` (or `Bearer <token>`); create tokens on the API tokens page.",
        }


# Refusals every operation can give, in the shapes apps.core.errors / DRF give them. Documented once
# here rather than on each view, so the schema and the answers cannot drift apart (a fuzzer checks it).
ERROR_COMPONENTS = {
    "Error": {
        "type": "object",
        "description": "A refusal with its reason.",
        "properties": {"detail": {"type": "string", "description": "Why, in words a person can act on."}},
        "required": ["detail"],
    },
    "ValidationErrors": {
        "type": "object",
        "description": 'Refused input: each field\'s messages (`{"name": ["..."]}`), or `{"detail": "..."}` for '
                       "the request as a whole (malformed JSON, NUL characters, numbers out of range, a bad "
                       "percent-encoding in the query string, a value the database cannot store). Nothing was "
                       "written.",
        "additionalProperties": {},
    },
}
ERROR_RESPONSES = {
    "400": ("ValidationErrors", "Refused input; nothing was written."),
    "401": ("Error", "No valid API token (`Authorization: Token <token>`)."),
    "403": ("Error", "Authenticated, but the role in this folder or organisation does not allow it."),
    "404": ("Error", "No such object, or not one the caller can see."),
}


def error_responses_postprocess(result, generator, request, public):
    """drf-spectacular postprocessing hook: the 400/401/403/404 answers on every operation that does
    not describe them itself (a view's own 400 description is kept, with the shared body schema)."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.update(ERROR_COMPONENTS)
    for path, path_item in result.get("paths", {}).items():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            # A view's class-level path parameters also land on its list routes (``/folders/trash``
            # got a ``uuid``); a path parameter the path does not hold is no parameter at all.
            if "parameters" in operation:
                operation["parameters"] = [
                    parameter for parameter in operation["parameters"]
                    if parameter.get("in") != "path" or "{" + parameter["name"] + "}" in path
                ]
            responses = operation["responses"]
            # Errors are rendered like the success answer (a CSV download's 404 comes back as CSV).
            media_types = {"application/json"} | {
                media_type for status, answer in responses.items() if status.startswith("2")
                for media_type in answer.get("content", {})}
            for status, (component, description) in ERROR_RESPONSES.items():
                schema = {"$ref": f"#/components/schemas/{component}"}
                answer = responses.setdefault(status, {"description": description})
                answer.setdefault("content", {media_type: {"schema": schema} for media_type in sorted(media_types)})
    return result
