from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from labelhub.schema import ErrorSerializer
from labeling.api.serializers import JobSerializer
from labeling.selectors import job_for_user


class JobDetailApi(GenericAPIView):
    serializer_class = JobSerializer

    @extend_schema(
        responses={
            200: JobSerializer,
            404: OpenApiResponse(
                ErrorSerializer,
                description="no such job, or not yours to read: jobs are for the reviewers and managers of "
                "their project, and a labeler gets the same 404 as for an id that does not exist",
            ),
        },
        description="A background job's status, progress, errors and result (imports, agreement reports, "
        "maps, version builds, training), for the reviewers and managers of its project.",
    )
    def get(self, request, job_id):
        return Response(JobSerializer(job_for_user(user=request.user, job_id=job_id)).data)
