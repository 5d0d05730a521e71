from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from labeling.api.serializers import (
    MemberSerializer,
    ProjectCreateSerializer,
    ProjectOutSerializer,
    ProjectUpdateSerializer,
)
from labeling.choices import Role
from labeling.selectors import project_create_check, project_for_user, projects_for_user
from labeling.services.projects import member_add, project_create, project_update


class ProjectListApi(GenericAPIView):
    serializer_class = ProjectOutSerializer

    @extend_schema(responses=ProjectOutSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(projects_for_user(user=request.user).select_related("active_guideline"))
        return self.get_paginated_response(ProjectOutSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        request=ProjectCreateSerializer,
        responses={201: ProjectOutSerializer},
        description="Staff and users given the right create projects (LABELHUB_PROJECT_CREATORS); 403 otherwise.",
    )
    def post(self, request):
        project_create_check(user=request.user)
        data = ProjectCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(creator=request.user, **data.validated_data)
        membership = project.memberships.get(user=request.user)
        out = ProjectOutSerializer(project, context={"request": request, "membership": membership})
        return Response(out.data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(GenericAPIView):
    serializer_class = ProjectOutSerializer

    def get(self, request, project_id):
        project, membership = project_for_user(user=request.user, project_id=project_id)
        return Response(ProjectOutSerializer(project, context={"request": request, "membership": membership}).data)

    @extend_schema(request=ProjectUpdateSerializer, responses=ProjectOutSerializer)
    def patch(self, request, project_id):
        project, membership = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        data = ProjectUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = project_update(project=project, **data.validated_data)
        return Response(ProjectOutSerializer(project, context={"request": request, "membership": membership}).data)


class MemberListApi(GenericAPIView):
    serializer_class = MemberSerializer

    @extend_schema(responses=MemberSerializer(many=True))
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id)
        page = self.paginate_queryset(project.memberships.select_related("user").order_by("user__username"))
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    @extend_schema(request=MemberSerializer, responses={201: MemberSerializer})
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        data = MemberSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = member_add(
            project=project, username=data.validated_data["user"]["username"], role=data.validated_data["role"]
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)
