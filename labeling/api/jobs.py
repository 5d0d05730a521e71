from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from labeling.api.serializers import JobSerializer
from labeling.selectors import job_for_user


class JobDetailApi(GenericAPIView):
    serializer_class = JobSerializer

    def get(self, request, job_id):
        return Response(JobSerializer(job_for_user(user=request.user, job_id=job_id)).data)
