from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from labelhub.schema import ErrorSerializer
from labeling.api.serializers import JobSerializer
from labeling.selectors import job_for_user
from labeling.services.jobs import job_resend_lost

# Result entries left out of a poll unless asked for: an import lists up to 1,000 item ids, which a
# page polling twice a second neither needs nor should download again and again.
LISTS_ON_REQUEST = ("items",)
TRUE, FALSE = ("1", "true", "yes"), ("", "0", "false", "no")


class JobDetailApi(GenericAPIView):
    serializer_class = JobSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "items",
                OpenApiTypes.BOOL,
                description="include the result's list of imported item ids (`result.items`, up to 1,000); "
                "left out by default so progress polls stay small (the counts are always there)",
            )
        ],
        responses={
            200: JobSerializer,
            400: OpenApiResponse(ErrorSerializer, description="`items` is not a yes/no value"),
            403: OpenApiResponse(
                ErrorSerializer,
                description="a job of a project you are a member of, but not yours to read: jobs are for the "
                "reviewers and managers of their project, so a labeler (or a reviewer of an archived project) "
                "is told so, and nothing of the job",
            ),
            404: OpenApiResponse(
                ErrorSerializer,
                description="no such job, or a job of a project you are not a member of (the same answer, so "
                "other projects' jobs are not revealed)",
            ),
        },
        description="A background job's status, progress, errors and result (imports, agreement reports, "
        "maps, version builds, training), for the reviewers and managers of its project. An import's "
        "list of imported item ids is left out unless `?items=1`. A job still queued "
        "`LABELHUB_JOB_STALE_SECONDS` after its task was sent (its broker message lost) is sent again.",
    )
    def get(self, request, job_id):
        flag = request.query_params.get("items", "").strip().lower()
        if flag not in TRUE + FALSE:
            raise ValidationError({"items": f"'{flag}' is not a yes/no value (use items=1 or items=0)"})
        job = job_for_user(user=request.user, job_id=job_id)
        job_resend_lost(job=job)  # a page polling a job whose message was lost sends it again
        data = JobSerializer(job).data
        if flag not in TRUE and isinstance(data.get("result"), dict):
            data["result"] = {k: v for k, v in data["result"].items() if k not in LISTS_ON_REQUEST}
        return Response(data)
