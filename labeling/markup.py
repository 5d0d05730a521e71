"""Markdown written by project members (guidelines, transcription conventions) as safe HTML."""

import markdown
import nh3
from django.utils.safestring import mark_safe

EXTENSIONS = ["extra", "sane_lists"]


def markdown_html(text) -> str:
    """Render markdown server-side and sanitize the HTML with nh3 (no scripts, event handlers,
    ``javascript:`` links or styles), so it can be inserted into a page as is. Empty text gives ""."""
    if not (text or "").strip():
        return ""
    html = markdown.markdown(text, extensions=EXTENSIONS, output_format="html")
    return mark_safe(nh3.clean(html, link_rel="noopener noreferrer"))  # noqa: S308 - sanitized just above
