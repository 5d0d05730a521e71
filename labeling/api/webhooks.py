"""Webhooks over REST: a project's URLs told (signed) when a version is ready, and their delivery log.

Managers only: a webhook's secret is shown to them so that their receiver can check signatures.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from labelhub.api import KnownFieldsOnly, ModelSerializer
from labeling.choices import Role
from labeling.models import Webhook, WebhookDelivery
from labeling.selectors import deliveries_list, project_for_user, webhook_for, webhooks_list
from labeling.services.webhooks import EVENTS, webhook_delete, webhook_register, webhook_update


class WebhookSerializer(ModelSerializer):
    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "active", "secret", "created"]
        read_only_fields = fields


class WebhookInSerializer(KnownFieldsOnly, serializers.Serializer):
    # A CharField, not a URLField: the service says precisely what is wrong with a URL.
    url = serializers.CharField(help_text="an http:// or https:// URL")
    events = serializers.ListField(
        child=serializers.CharField(), required=False, help_text=f"default: all ({', '.join(EVENTS)})"
    )
    active = serializers.BooleanField(required=False, default=True)


class WebhookUpdateSerializer(KnownFieldsOnly, serializers.Serializer):
    url = serializers.CharField(required=False)
    events = serializers.ListField(child=serializers.CharField(), required=False)
    active = serializers.BooleanField(required=False)
    new_secret = serializers.BooleanField(required=False, default=False, help_text="replace the secret")


class DeliverySerializer(ModelSerializer):
    webhook = serializers.IntegerField(source="webhook_id")
    url = serializers.CharField(source="webhook.url")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook",
            "url",
            "event",
            "status",
            "attempts",
            "response_status",
            "error",
            "payload",
            "created",
            "last_attempt",
            "next_attempt",
        ]


class WebhookListApi(GenericAPIView):
    serializer_class = WebhookSerializer

    @extend_schema(responses=WebhookSerializer(many=True))
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        page = self.paginate_queryset(webhooks_list(project=project))
        return self.get_paginated_response(WebhookSerializer(page, many=True).data)

    @extend_schema(
        request=WebhookInSerializer,
        responses={201: WebhookSerializer, 200: WebhookSerializer},
        description="Add a webhook; its secret signs every delivery (X-LabelHub-Signature: sha256=<HMAC>). The "
        "project's webhook of the same URL, events and active flag (a retried request) is answered with 200 "
        "instead of adding a second one that would receive every event twice.",
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        data = WebhookInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        webhook, created = webhook_register(
            project=project, url=fields["url"], events=fields.get("events"), user=request.user, active=fields["active"]
        )
        # registered already (a retried request): not a second one delivered to twice
        return Response(
            WebhookSerializer(webhook).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class WebhookDetailApi(GenericAPIView):
    serializer_class = WebhookSerializer

    def get(self, request, project_id, webhook_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        return Response(WebhookSerializer(webhook_for(project=project, webhook_id=webhook_id)).data)

    @extend_schema(request=WebhookUpdateSerializer, responses=WebhookSerializer)
    def patch(self, request, project_id, webhook_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        webhook = webhook_for(project=project, webhook_id=webhook_id)
        data = WebhookUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(WebhookSerializer(webhook_update(webhook=webhook, **data.validated_data)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id, webhook_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        webhook_delete(webhook=webhook_for(project=project, webhook_id=webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListApi(GenericAPIView):
    serializer_class = DeliverySerializer

    @extend_schema(responses=DeliverySerializer(many=True), description="The delivery log, newest first.")
    def get(self, request, project_id, webhook_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        webhook = webhook_for(project=project, webhook_id=webhook_id)
        page = self.paginate_queryset(deliveries_list(project=project, webhook=webhook))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)
