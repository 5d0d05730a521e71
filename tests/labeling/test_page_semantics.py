"""What a screen reader is told about a page: the help a field points to is there, every text box has a
name, and a guideline's own headings sit under the page's."""

import re
from html.parser import HTMLParser

from labeling.services.guidelines import guideline_publish
from tests.labeling.test_version_pages import two_versions  # noqa: F401 - a fixture


class Elements(HTMLParser):
    """The page's start tags as (tag, attributes) in document order."""

    def __init__(self, html):
        super().__init__()
        self.tags = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def ids(self):
        return {attrs["id"] for _, attrs in self.tags if attrs.get("id")}

    def headings(self):
        return [int(tag[1]) for tag, _ in self.tags if re.fullmatch(r"h[1-6]", tag)]


def missing_references(html):
    page = Elements(html)
    ids = page.ids()
    return [
        (attrs.get("name") or attrs.get("id"), ref)
        for _, attrs in page.tags
        for attribute in ("aria-describedby", "aria-labelledby")
        for ref in (attrs.get(attribute) or "").split()
        if ref not in ids
    ]


def test_the_help_of_each_field_is_on_the_page_its_field_points_to(client, manager, project):
    """Fields pointed a screen reader at help that was not on the page (id_overlap_helptext, ...): the
    overlap, answer options and guideline of a new project, a token's name and the password rules were
    never read out, and the password rules were not shown at all."""
    client.force_login(manager)
    for url in ("/projects/new/", "/account/tokens/", "/account/password/"):
        html = client.get(url).content.decode()
        assert missing_references(html) == [], url
    html = client.get("/account/password/").content.decode()
    assert "can’t be entirely numeric" in html  # Django's password rules, before the first failed try


def test_the_guideline_editor_has_a_name(client, reviewer, project):
    """The box a new guideline version is written in was announced as a bare "edit text"."""
    guideline_publish(project=project, text="Label the digit.")
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/guidelines/").content.decode()
    assert re.search(r'<label[^>]* for="guideline-editor"[^>]*>\s*Text of the new version', html)


def test_a_guidelines_own_headings_sit_under_the_pages_heading(client, reviewer, labeler, project):
    """A guideline written with "# Title" put a second h1 on the labeling and guidelines pages, under the
    page's h2 sections: a screen reader's outline had two pages in one."""
    guideline_publish(project=project, text="# Digits\n\nPress the key.\n\n## Borderline\n\nWhen unsure.")
    client.force_login(labeler)
    label = Elements(client.get(f"/projects/{project.pk}/label/").content.decode()).headings()
    client.force_login(reviewer)
    guidelines = Elements(client.get(f"/projects/{project.pk}/guidelines/").content.decode()).headings()
    for headings in (label, guidelines):
        assert headings.count(1) == 1 and headings[0] == 1, headings
        assert all(b <= a + 1 for a, b in zip(headings, headings[1:], strict=False)), headings
    assert label[:4] == [1, 2, 3, 3]  # the guideline's title and section, then the class list


def test_markdown_headings_start_at_the_level_asked_and_keep_their_steps():
    from labeling.markup import markdown_html

    assert markdown_html("# A\n\n## B\n\n#### C", top_heading=3) == "<h3>A</h3>\n<h4>B</h4>\n<h6>C</h6>"
    assert markdown_html("### A\n\n<h5>B</h5>", top_heading=2) == "<h2>A</h2>\n<h4>B</h4>"
    assert markdown_html("# A\n\n###### F", top_heading=4) == "<h4>A</h4>\n<h6>F</h6>"  # none past h6
    assert markdown_html("No heading\n\n---\n\n<b>bold</b>") == "<p>No heading</p>\n<hr>\n<p><b>bold</b></p>"


def test_a_versions_left_out_and_resolved_by_tables_name_their_rows(client, reviewer, two_versions):  # noqa: F811
    """The "Left out" and "Labels resolved by" tables had no header cell: a screen reader moving through
    them read bare numbers, not "majority, 4"."""
    project, _ = two_versions
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/versions/1/").content.decode()
    tables = re.findall(r"<table\b.*?</table>", html, flags=re.DOTALL)
    assert tables and all("<th" in table for table in tables)
    assert re.search(r'<th scope="row">majority</th><td class="num">\d+</td>', html)
