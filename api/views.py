"""The API tokens page: a user's own tokens, made (shown once) and revoked."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from api import selectors, services


def _page(request: HttpRequest, **extra) -> HttpResponse:
    status = extra.pop("status", 200)
    context = {"tokens": selectors.api_tokens_for_user(user=request.user), **extra}
    return render(request, "api/tokens.html", context, status=status)


def _require_token_holder(request: HttpRequest) -> None:
    if not selectors.user_may_hold_tokens(user=request.user):
        raise PermissionDenied(
            _("API tokens are for organizers and analysts; this account cannot hold one.")
        )


@never_cache  # the response that shows a new token must not be kept by any cache
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    _require_token_holder(request)
    if request.method == "GET":
        return _page(request)
    try:
        token, secret = services.api_token_create(
            user=request.user, name=request.POST.get("name", "")
        )
    except ValidationError as exc:
        return _page(request, error=" ".join(exc.messages), status=400)
    return _page(request, new_token=token, secret=secret)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    _require_token_holder(request)
    token = selectors.api_token_get_for_user(user=request.user, token_id=token_id)
    if services.api_token_revoke(token=token):
        messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    else:
        messages.info(request, _("Token “%(name)s” was already revoked.") % {"name": token.name})
    return redirect("api-tokens:list")
