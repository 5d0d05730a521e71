"""The project dashboard's numbers, as the page shows them."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from analysis.services.dashboard import dashboard_build
from labeling.choices import Role
from labeling.selectors import project_for_user


class DashboardApi(GenericAPIView):
    @extend_schema(
        responses={
            200: inline_serializer(
                "Dashboard",
                {
                    "progress": serializers.DictField(),
                    "agreement": serializers.DictField(),
                    "version": serializers.DictField(allow_null=True),
                    "model_run": serializers.DictField(allow_null=True),
                    "top_slices": serializers.ListField(child=serializers.DictField()),
                    "drift": serializers.DictField(),
                    "output_signal": serializers.DictField(),
                    "planning": serializers.DictField(),
                },
            )
        },
        description="Progress, agreement and HLP, the last version and model run against HLP, the top "
        "error-analysis rows, drift alerts and the planning headline. Reviewers and managers only.",
    )
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        return Response(dashboard_build(project=project, user=request.user))
