from django.db.models import Count
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from labeling.api.serializers import SourceSerializer
from labeling.choices import Role
from labeling.selectors import project_for_user
from labeling.services.sources import source_create, source_update


class SourceListApi(GenericAPIView):
    serializer_class = SourceSerializer

    @extend_schema(responses=SourceSerializer(many=True))
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id)
        sources = project.sources.annotate(n_items=Count("items")).order_by("name")
        page = self.paginate_queryset(sources)
        return self.get_paginated_response(SourceSerializer(page, many=True).data)

    @extend_schema(request=SourceSerializer, responses={201: SourceSerializer})
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        data = SourceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = source_create(project=project, **data.validated_data)
        return Response(SourceSerializer(source).data, status=status.HTTP_201_CREATED)


class SourceDetailApi(GenericAPIView):
    serializer_class = SourceSerializer

    def _source(self, request, project_id, source_id, role=Role.LABELER):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=role)
        source = project.sources.annotate(n_items=Count("items")).filter(pk=source_id).first()
        if source is None:
            from django.http import Http404

            raise Http404("No source with that id in this project.")
        return source

    def get(self, request, project_id, source_id):
        return Response(SourceSerializer(self._source(request, project_id, source_id)).data)

    @extend_schema(request=SourceSerializer, responses=SourceSerializer)
    def patch(self, request, project_id, source_id):
        source = self._source(request, project_id, source_id, role=Role.MANAGER)
        data = SourceSerializer(source, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(SourceSerializer(source_update(source=source, **data.validated_data)).data)
