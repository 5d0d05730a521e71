"""A faster JSON renderer for the labeling loop's responses (every answer a labeler gives renders one)."""

import orjson
from rest_framework import renderers
from rest_framework.settings import api_settings

# Dates and times go back to DRF (its format: milliseconds, "Z"); so does anything else orjson does not
# write itself: it raises TypeError for Decimal, non-string keys, integers over 64 bits, numpy values.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_LINE_SEPARATORS = (b"\xe2\x80\xa8", b"\xe2\x80\xa9")  # U+2028, U+2029, which DRF escapes for JavaScript


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer, with orjson writing what it writes byte for byte the same: compact, UTF-8, for
    the plain strings, integers, booleans, None, lists and dicts the loop's responses are made of
    (json.dumps and DRF's encoder took 25 us a response, orjson 2 us). Indented output, dates and times,
    and any value orjson would not write go through DRF as before. Floats: both write the shortest form
    that reads back as the same number, but spell some exponents differently (1e-05 and 1e-5), and
    orjson writes NaN as null where DRF fails; the loop's only float, ``seconds``, is a finite number
    from 0 to 86400 (its field refuses NaN and infinity). Used by the loop's views only."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if (
            data is not None
            and api_settings.COMPACT_JSON
            and api_settings.UNICODE_JSON
            and self.get_indent(accepted_media_type, renderer_context or {}) is None
        ):
            try:
                out = orjson.dumps(data, option=_OPTIONS)
            except TypeError:
                pass
            else:
                if _LINE_SEPARATORS[0] in out or _LINE_SEPARATORS[1] in out:
                    out = out.replace(_LINE_SEPARATORS[0], b"\\u2028").replace(_LINE_SEPARATORS[1], b"\\u2029")
                return out
        return super().render(data, accepted_media_type, renderer_context)


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's browsable API page (an API URL opened in a browser), without the filter form: DRF builds it
    from the view's queryset, which LabelHub's list views (answering their lists through selectors, with
    no filter backends) do not have, and every list page was a 500."""

    def get_filter_form(self, data, view, request):
        if not getattr(view, "filter_backends", None):
            return None
        return super().get_filter_form(data, view, request)
