"""``/api/auth/token/``: obtain a token with a password (POST), revoke the one the request is signed with
(DELETE)."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiToken
from accounts.services import token_create, token_revoke, username_as_typed
from labelhub.api import KnownFieldsOnly


# A field the sign-in does not take is refused naming it, in JSON and in a form (curl -d) alike: an
# "expires_in" was dropped and the token made without an expiry, a misspelt "nmae" left it "API sign-in" on
# the Account page. A page's form passes with its CSRF token.
class TokenCreateInput(KnownFieldsOnly, serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    name = serializers.CharField(max_length=100, required=False, help_text="What the token is for (a machine).")


class TokenOutput(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`; shown only this once.")
    name = serializers.CharField()
    expires = serializers.DateTimeField(allow_null=True)


class TokenApi(APIView):
    """POST: a new token for a username and password (each call makes another one; see the account's
    token page). Failed attempts are throttled per username and address (429 with ``Retry-After``).
    DELETE: revoke the token this request is signed with (204)."""

    def get_permissions(self):
        return [permissions.AllowAny()] if self.request.method == "POST" else [permissions.IsAuthenticated()]

    @extend_schema(
        request=TokenCreateInput,
        responses={
            200: TokenOutput,
            400: OpenApiResponse(description="Missing fields, or a username and password that do not match."),
            429: OpenApiResponse(description="Too many failed sign-ins; retry after `Retry-After` seconds."),
        },
        auth=[],
    )
    def post(self, request):
        data = TokenCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        username = username_as_typed(data.validated_data["username"])
        user = authenticate(request, username=username, password=data.validated_data["password"])
        if user is None:
            wait = getattr(request, "signin_retry_after", None)
            if wait:
                # the wait is said once: given to Throttled, DRF appends "Expected available in N seconds."
                throttled = exceptions.Throttled(detail=f"Too many failed sign-ins: try again in {wait} seconds.")
                throttled.wait = wait  # Retry-After
                raise throttled
            raise serializers.ValidationError("Unable to log in with provided credentials.", code="authorization")
        token, key = token_create(user=user, name=data.validated_data.get("name") or "API sign-in")
        return Response(TokenOutput({"token": key, "name": token.name, "expires": token.expires_at}).data)

    @extend_schema(
        request=None,
        responses={
            204: OpenApiResponse(description="The token is revoked."),
            400: OpenApiResponse(description="The request was not signed with a token."),
        },
    )
    def delete(self, request):
        if not isinstance(request.auth, ApiToken):
            raise serializers.ValidationError(
                "This request is not signed with a token; revoke tokens on /account/tokens/."
            )
        token_revoke(user=request.user, token_id=request.auth.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
