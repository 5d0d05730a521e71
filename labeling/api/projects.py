from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from accounts.signin import TooManyMails
from labelhub.api import unknown_fields_error
from labeling.api.serializers import (
    InvitationCreatedSerializer,
    InvitationSerializer,
    MemberAddSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    ProjectCreateSerializer,
    ProjectOutSerializer,
    ProjectUpdateSerializer,
)
from labeling.choices import Role
from labeling.selectors import (
    invitations_pending,
    member_for,
    project_create_check,
    project_for_user,
    projects_for_user,
)
from labeling.services.invitations import invitation_create, invitation_revoke
from labeling.services.projects import (
    member_add_or_change,
    member_remove,
    member_role_change,
    project_archive,
    project_create,
    project_restore,
    project_update,
)


class ProjectListApi(GenericAPIView):
    serializer_class = ProjectOutSerializer

    @extend_schema(
        responses=ProjectOutSerializer(many=True),
        parameters=[
            OpenApiParameter(
                "archived",
                OpenApiTypes.BOOL,
                description="true: only archived projects, false: only active ones (archived projects are "
                "listed to their managers only)",
            )
        ],
    )
    def get(self, request):
        archived = request.query_params.get("archived")
        if archived is not None:
            try:
                archived = serializers.BooleanField().run_validation(archived)
            except ValidationError as exc:  # named: the bare field answered "non_field_errors"
                raise ValidationError({"archived": [f"'{archived}' is not true or false"]}) from exc
        projects = projects_for_user(user=request.user, archived=archived).select_related("active_guideline")
        page = self.paginate_queryset(projects)
        return self.get_paginated_response(ProjectOutSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        request=ProjectCreateSerializer,
        responses={201: ProjectOutSerializer},
        description="Staff and users given the right create projects (LABELHUB_PROJECT_CREATORS); 403 otherwise. "
        "A non-empty `guideline` is published as the guideline's version 1.",
    )
    def post(self, request):
        project_create_check(user=request.user)
        data = ProjectCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(creator=request.user, **data.validated_data)
        membership = project.memberships.get(user=request.user)
        out = ProjectOutSerializer(project, context={"request": request, "membership": membership})
        return Response(out.data, status=status.HTTP_201_CREATED)


# Fields of a project that PATCH does not change, and where they are changed.
NOT_PATCHED = {
    "id": "a project's id never changes",
    "modality": "the modality is chosen when the project is created",
    "task_type": "the task is chosen when the project is created",
    "classes": "classes are added, renamed, merged and retired with POST /api/projects/{id}/taxonomy-changes/",
    "archived": "archive with POST /api/projects/{id}/archive/, restore with DELETE on it",
    "active_guideline": "a guideline is published with POST /api/projects/{id}/guidelines/",
    "role": "roles are changed on /api/projects/{id}/members/",
    "created": "a project's creation time never changes",
}


class ProjectDetailApi(GenericAPIView):
    serializer_class = ProjectOutSerializer

    def get(self, request, project_id):
        project, membership = project_for_user(user=request.user, project_id=project_id)
        return Response(ProjectOutSerializer(project, context={"request": request, "membership": membership}).data)

    @extend_schema(
        request=ProjectUpdateSerializer,
        responses=ProjectOutSerializer,
        description="Change the name, description, options, overlap or transcription conventions. The other "
        "fields of the project are changed elsewhere, and a PATCH that gives one of them another value than it "
        "has is refused naming where (a PATCH of the whole object as read, with those unchanged, is fine).",
    )
    def patch(self, request, project_id):
        project, membership = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        context = {"request": request, "membership": membership}
        if isinstance(request.data, dict) and NOT_PATCHED.keys() & request.data.keys():
            # They were ignored without a word: a script "renaming" a class got 200 and no change.
            current = ProjectOutSerializer(project, context=context).data
            changed = {name: NOT_PATCHED[name] for name in NOT_PATCHED if name in request.data}
            changed = {name: where for name, where in changed.items() if request.data[name] != current[name]}
            if changed:
                raise ValidationError(changed)
        known = [*ProjectUpdateSerializer._declared_fields, *NOT_PATCHED]
        unknown = unknown_fields_error(request.data, known, nested=["options"])  # a form's options.borderline
        if unknown is not None:
            raise unknown
        data = ProjectUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = project_update(project=project, **data.validated_data)
        return Response(ProjectOutSerializer(project, context=context).data)


class ProjectArchiveApi(GenericAPIView):
    """Archive (POST) or restore (DELETE) a project: managers only."""

    serializer_class = ProjectOutSerializer

    @extend_schema(
        request=None,
        responses=ProjectOutSerializer,
        description="Archive the project: it leaves its labelers' and reviewers' lists and queues (they get 403), "
        "its managers still read it. Nothing is deleted.",
    )
    def post(self, request, project_id):
        project, membership = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        project = project_archive(project=project)
        return Response(ProjectOutSerializer(project, context={"request": request, "membership": membership}).data)

    @extend_schema(request=None, responses={200: ProjectOutSerializer}, description="Restore an archived project.")
    def delete(self, request, project_id):
        project, membership = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        project = project_restore(project=project)
        return Response(ProjectOutSerializer(project, context={"request": request, "membership": membership}).data)


class MemberListApi(GenericAPIView):
    serializer_class = MemberSerializer

    @extend_schema(responses=MemberSerializer(many=True))
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id)
        page = self.paginate_queryset(project.memberships.select_related("user").order_by("user__username"))
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    @extend_schema(
        request=MemberAddSerializer,
        responses={201: MemberSerializer, 200: MemberSerializer},
        description="Managers add an existing user (by `username`, or else by `email`) with a role (201); a member "
        "already in the project gets the role instead (200). The last manager cannot be made anything else.",
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        data = MemberAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership, created = member_add_or_change(project=project, **data.validated_data)
        return Response(
            MemberSerializer(membership).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class MemberDetailApi(GenericAPIView):
    """One member, by username: read (any member), change the role or remove (managers)."""

    serializer_class = MemberSerializer

    def get(self, request, project_id, username):
        project, _ = project_for_user(user=request.user, project_id=project_id)
        return Response(MemberSerializer(member_for(project=project, username=username)).data)

    @extend_schema(
        request=MemberRoleSerializer,
        responses=MemberSerializer,
        description="Change the member's role; 400 when it would leave the project without a manager.",
    )
    def patch(self, request, project_id, username):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        membership = member_for(project=project, username=username)
        _refuse_member_fields_not_patched(request.data, membership)
        data = MemberRoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = member_role_change(membership=membership, role=data.validated_data["role"])
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        responses={204: None},
        description="Remove the member (their answers stay); 400 for the project's last manager.",
    )
    def delete(self, request, project_id, username):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        member_remove(membership=member_for(project=project, username=username))
        return Response(status=status.HTTP_204_NO_CONTENT)


# Fields of a member as read that PATCH does not change, and why.
MEMBER_NOT_PATCHED = {
    "username": "the member is the one in the path; add another user with POST /api/projects/{id}/members/",
    "created": "when a member joined never changes",
}


def _refuse_member_fields_not_patched(data, membership):
    """A 400 for a field PATCH does not take: a misspelt "rol" was dropped and the role left as it was,
    with a 200. The member sent back as read (its username and created unchanged) still passes. JSON
    objects and forms (``role=reviewer&until=...`` was the role changed for good), as
    ``unknown_fields_error`` checks them."""
    if type(data) is not dict and not hasattr(data, "getlist"):
        return  # a JSON body that is no object: the serializer says what it takes
    current = MemberSerializer(membership).data
    changed = {name: why for name, why in MEMBER_NOT_PATCHED.items() if name in data and data[name] != current[name]}
    if changed:
        raise ValidationError(changed)
    unknown = unknown_fields_error(data, [*MemberRoleSerializer._declared_fields, *MEMBER_NOT_PATCHED])
    if unknown is not None:
        raise unknown


# What POST .../invitations/ takes; the other fields of an invitation are the server's.
INVITATION_FIELDS = ["email", "role"]


class InvitationListApi(GenericAPIView):
    """Invitations of people with no account here yet (managers only)."""

    serializer_class = InvitationSerializer

    @extend_schema(responses=InvitationSerializer(many=True), description="The invitations whose links still work.")
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        page = self.paginate_queryset(invitations_pending(project=project))
        return self.get_paginated_response(InvitationSerializer(page, many=True).data)

    @extend_schema(
        request=InvitationSerializer,
        responses={201: InvitationCreatedSerializer},
        description="Invite an e-mail address with a role: LabelHub e-mails a one-time link (valid 7 days) to "
        "make an account and join, and answers the link this once. A new invitation of the same address "
        "withdraws the earlier one; an address whose account is already a member is refused (400).",
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        # Only these two: any other field (a longer "expires", a misspelling) was dropped, the invitation
        # e-mailed as if it had not been sent, and the address's earlier invitation withdrawn.
        unknown = unknown_fields_error(request.data, INVITATION_FIELDS)
        if unknown is not None:
            raise unknown
        data = InvitationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            invitation, link = invitation_create(
                project=project,
                email=data.validated_data["email"],
                role=data.validated_data["role"],
                invited_by=request.user,
                link_for=lambda token: request.build_absolute_uri(reverse("invitation", args=[token])),
            )
        except TooManyMails as exc:
            throttled = Throttled(detail=exc.message)
            throttled.wait = exc.wait  # Retry-After
            raise throttled from None
        invitation.link = link
        return Response(InvitationCreatedSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailApi(GenericAPIView):
    serializer_class = InvitationSerializer

    @extend_schema(responses={204: None}, description="Withdraw the invitation: its link stops working.")
    def delete(self, request, project_id, invitation_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        invitation_revoke(invitation=get_object_or_404(project.invitations, pk=invitation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
