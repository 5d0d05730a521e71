"""OPTIONS answers of the API (DRF's DEFAULT_METADATA_CLASS).

Its own module, importing nothing of rest_framework.views: DRF reads the setting while it defines
APIView, so a module that imports rest_framework.views (as labelhub.api does) would be imported half-way.
"""

from rest_framework.metadata import SimpleMetadata


class Metadata(SimpleMetadata):
    """OPTIONS answers for every view: DRF's own, without the form description where a view has no
    ``serializer_class`` (DRF would fail on it with a 500; the OpenAPI schema describes those bodies)."""

    def determine_actions(self, request, view):
        # Not at import: rest_framework.generics imports rest_framework.views, which loads this module.
        from rest_framework.generics import GenericAPIView

        if getattr(view, "serializer_class", None) is None and type(view).get_serializer_class is (
            GenericAPIView.get_serializer_class
        ):
            return {}
        return super().determine_actions(request, view)
