"""Authentication for every page, not just the ones someone remembered to decorate."""

from django.contrib.auth.middleware import LoginRequiredMiddleware

# These prefixes authenticate on their own (tokens, signatures) and must answer 401, not redirect.
SELF_AUTHENTICATING_PREFIXES = ("/api/", "/v2/public/", "/static/")
# The Encord legacy RPC, matched exactly: a prefix "/public" would also exempt "/publications/...".
SELF_AUTHENTICATING_PATHS = frozenset({"/public", "/public/user"})


class LoginRequiredEverywhereMiddleware(LoginRequiredMiddleware):
    """Django's login-required middleware, minus API routes that carry their own authentication."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(SELF_AUTHENTICATING_PREFIXES) or request.path in SELF_AUTHENTICATING_PATHS:
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
