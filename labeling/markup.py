"""Markdown written by project members (guidelines, transcription conventions) as safe HTML."""

import re

import markdown
import nh3
from django.utils.safestring import mark_safe

EXTENSIONS = ["extra", "sane_lists"]
HEADING = re.compile(r"<(/?)h([1-6])\b", re.IGNORECASE)


def markdown_html(text, *, top_heading=2) -> str:
    """Render markdown server-side and sanitize the HTML with nh3 (no scripts, event handlers,
    ``javascript:`` links or styles), so it can be inserted into a page as is. Empty text gives "".

    The text's headings are moved so that its highest is ``<h{top_heading}>`` (its levels kept apart, none
    past h6): a guideline's "# Title" sits under the page's own h1 and the section it is shown in, instead
    of starting a second outline."""
    if not (text or "").strip():
        return ""
    html = markdown.markdown(text, extensions=EXTENSIONS, output_format="html")
    html = nh3.clean(html, link_rel="noopener noreferrer")
    levels = [int(level) for _, level in HEADING.findall(html)]
    if levels and min(levels) != top_heading:
        shift = top_heading - min(levels)
        html = HEADING.sub(lambda m: f"<{m[1]}h{min(6, int(m[2]) + shift)}", html)
    return mark_safe(html)  # noqa: S308 - sanitized just above, only heading levels changed since
