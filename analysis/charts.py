"""Small server-rendered SVG charts for the report pages (no chart library, nothing loaded at run time).

Each function takes plain numbers and answers a safe SVG string; every label passes through
``format_html`` (Django's escaping, with numbers kept numbers), so user-provided names (tags, statistics,
sources) are escaped.
"""

import math
from numbers import Number

from django.utils.html import conditional_escape, format_html_join
from django.utils.safestring import mark_safe


def format_html(fmt, *args):
    """``django.utils.html.format_html`` that keeps numbers numbers, so ``{:.1f}`` works on them."""
    safe = [a if isinstance(a, Number) else conditional_escape(a) for a in args]
    return mark_safe(fmt.format(*safe))


PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 16, 14, 26
TICK_CHAR_PX = 6.2  # width of a character of the 10 px tick font, to make room for labels
MAX_LABEL_CHARS = 28  # longer row labels are cut with "…" (the full text stays in the bar's title)


# --- Numbers for people ---------------------------------------------------------------------------------

_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def _trim(text):
    """'1.50' → '1.5', '2.0' → '2' (a decimal point and its trailing zeros say nothing)."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def _plain(value, significant=3):
    """A number below 1,000 with ``significant`` digits and never scientific notation: 0.004, 0.18, 12.5."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, significant - 1 - magnitude)
    return _trim(f"{value:.{decimals}f}")


def human_number(value, significant=3):
    """A number as a person reads it on an axis or a card: 18k, 1.2M, 3.5B; 950, 12.5, 0.004 — never
    '.18e+04'. ``significant`` digits at most (two for the thousands and above: 18k, 1.2M, 184k)."""
    if value is None:
        return "—"
    value = float(value)
    if not math.isfinite(value):
        return "—"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    for scale, suffix in _SUFFIXES:
        if magnitude >= scale * 0.9995:
            scaled = magnitude / scale
            if round(scaled) >= 1000 and suffix != "T":
                continue  # 999,999 is 1M, not 1000k
            text = _trim(f"{scaled:.1f}") if scaled < 9.95 else f"{scaled:.0f}"
            return f"{sign}{text}{suffix}"
    return sign + _plain(magnitude, significant)


def money(value, currency=""):
    """An amount with its significant digits: 0.004 USD (not 0.00), 0.0042, 0.25, 5.00, 12.50, 200,
    12,346.

    Below 1: at least two decimals, and two significant digits however small; from 1: two decimals
    (from 100, dropped when they are zero: 200); from 1,000: whole units with thousands separators."""
    if value is None:
        return "—"
    value = float(value)
    if not math.isfinite(value):
        return "—"
    magnitude = abs(value)
    if magnitude == 0:
        text = "0"
    elif magnitude >= 1000:
        text = f"{magnitude:,.0f}"
    elif magnitude >= 1:
        text = f"{magnitude:.2f}"
        text = text[:-3] if text.endswith(".00") and magnitude >= 100 else text
    else:
        decimals = max(2, 1 - math.floor(math.log10(magnitude)))
        text = f"{magnitude:.{decimals}f}"
        if decimals > 2:
            text = text.rstrip("0")
    text = ("-" if value < 0 and text != "0" else "") + text
    return f"{text} {currency}".strip()


def fold_matrix(classes, counts, *, weights=None, limit=12, noun="classes"):
    """A square matrix fit for a page: classes with no answers left out, and beyond ``limit`` the top
    ``limit`` classes by ``weights`` (answers per class; default: the row and column sums) kept in
    their order, the rest summed into one last row and column, "other (k classes)".

    Answers ``(names, matrix, folded)``: the labels, the counts, and the class keys folded away."""
    n = len(classes)
    if weights is None:
        weights = [sum(counts[i]) + sum(row[i] for row in counts) for i in range(n)]
    present = [i for i in range(n) if weights[i] > 0]
    if len(present) <= limit:
        kept, folded = present, []
    else:
        top = sorted(present, key=lambda i: (-weights[i], i))[:limit]
        kept = sorted(top)
        folded = [i for i in present if i not in set(top)]
    groups = [[i] for i in kept] + ([folded] if folded else [])
    names = [classes[i] for i in kept] + ([f"other ({len(folded)} {noun})"] if folded else [])
    matrix = [[sum(counts[i][j] for i in rows for j in cols) for cols in groups] for rows in groups]
    return names, matrix, [classes[i] for i in folded]


def _cut(label, limit=MAX_LABEL_CHARS):
    label = str(label)
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _fmt(value, digits=3):
    return "—" if value is None else f"{value:.{digits}f}"


def _value(metric):
    if metric is None:
        return None
    return metric["value"] if isinstance(metric, dict) else metric


def nice_ticks(lo, hi, count=4):
    """Tick values every 1, 2, 2.5 or 5 times a power of ten, from a multiple of the step at or below
    ``lo`` to one at or above ``hi``: a weighted gap of ±0.0864 gets -0.1, -0.05, 0, 0.05, 0.1, not
    -0.0864, -0.0432, ..."""
    span = hi - lo
    if not math.isfinite(span) or span <= 0:
        return [lo, hi] if hi != lo else [lo]
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    first = math.floor(lo / step + 1e-9) * step
    ticks = []
    t = first
    while t < hi + step * 1e-9 or not ticks:
        ticks.append(round(t / step) * step)
        t += step
    if ticks[-1] < hi - step * 1e-9:
        ticks.append(ticks[-1] + step)
    return [0.0 if abs(v) < step * 1e-9 else float(f"{v:.12g}") for v in ticks]


def interval_bars(rows, *, series, domain=(0.0, 1.0), width=640, label="chart"):
    """Horizontal bars with 95 % interval whiskers, one group per row and one bar per series.

    ``rows``: ``[{"label": str, "values": {key: {"value", "ci_low", "ci_high"} | float | None}}]``;
    ``series``: ``[(key, legend, css class)]``; ``domain``: the value range of the x axis.
    """
    bar_h, gap = 9, 10
    group_h = bar_h * len(series) + gap
    height = PAD_TOP + PAD_BOTTOM + group_h * max(len(rows), 1)
    ticks = nice_ticks(*domain)
    lo, hi = ticks[0], ticks[-1]  # the axis ends on round numbers
    span = (hi - lo) or 1.0
    # Room on the left for the longest row label (cut at MAX_LABEL_CHARS), so none is cut off.
    longest = max((len(_cut(row["label"])) for row in rows), default=0)
    pad_left = min(max(40, round(longest * TICK_CHAR_PX) + 12), width // 2)
    plot_w = width - pad_left - PAD_RIGHT

    def x(v):
        return pad_left + plot_w * (min(max(v, lo), hi) - lo) / span

    base = x(0.0) if lo <= 0.0 <= hi else x(lo)  # bars grow from zero (negative gaps to the left)
    parts = []
    for i, row in enumerate(rows):
        y0 = PAD_TOP + i * group_h
        parts.append(
            format_html(
                '<text x="{}" y="{}" class="tick label" text-anchor="end">{}<title>{}</title></text>',
                pad_left - 6,
                y0 + bar_h * len(series) / 2 + 4,
                _cut(row["label"]),
                row["label"],
            )
        )
        for j, (key, legend, css) in enumerate(series):
            metric = row["values"].get(key)
            value = _value(metric)
            if value is None:
                continue
            y = y0 + j * bar_h
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{:.1f}" height="{}" class="bar {}"><title>{} {}: {}</title></rect>',
                    min(base, x(value)),
                    y,
                    max(abs(x(value) - base), 0.5),
                    bar_h - 1,
                    css,
                    row["label"],
                    legend,
                    _fmt(value),
                )
            )
            if isinstance(metric, dict) and metric.get("ci_low") is not None:
                parts.append(
                    format_html(
                        '<line x1="{:.1f}" x2="{:.1f}" y1="{}" y2="{}" class="whisker"/>',
                        x(metric["ci_low"]),
                        x(metric["ci_high"]),
                        y + (bar_h - 1) / 2,
                        y + (bar_h - 1) / 2,
                    )
                )
    axis_y = height - PAD_BOTTOM + 4
    parts.append(format_html('<line x1="{}" x2="{}" y1="{}" y2="{}" class="axis"/>', x(lo), x(hi), axis_y, axis_y))
    for t in ticks:
        parts.append(
            format_html(
                '<text x="{:.1f}" y="{}" class="tick" text-anchor="{}">{}</text>',
                x(t),
                axis_y + 12,
                # The end ticks keep inside the picture.
                "start" if t == lo else "end" if t == ticks[-1] else "middle",
                human_number(t),
            )
        )
    legend = format_html_join(
        "",
        '<tspan class="legend-{}" dx="8">■ {}</tspan>',
        ((css, legend) for _, legend, css in series),
    )
    return format_html(
        '<svg viewBox="0 0 {} {}" class="chart" role="img" aria-label="{}">{}'
        '<text x="{}" y="10" class="tick">{}</text></svg>',
        width,
        height + 4,
        label,
        mark_safe("".join(parts)),
        pad_left,
        legend,
    )


def values_table(series, *, x_heading, label, unit=""):
    """A line chart's values as a table folded under it (``<details>``): the dots say them only on hover,
    out of reach of the keyboard and of a screen reader (the chart is one image to it). ``unit`` follows
    each value (" %")."""
    xs = sorted({p[0] for s in series for p in s["points"]})
    by_series = [dict(s["points"]) for s in series]
    names = {}
    for s in series:
        names.update(s.get("x_names", {}))
    head = format_html_join("", '<th scope="col" class="num">{}</th>', ((s["label"],) for s in series))
    rows = format_html_join(
        "",
        '<tr><th scope="row">{}</th>{}</tr>',
        (
            (
                names.get(x, x),
                format_html_join(
                    "",
                    '<td class="num">{}</td>',
                    (("—" if v.get(x) is None else human_number(v[x]) + unit,) for v in by_series),
                ),
            )
            for x in xs
        ),
    )
    return format_html(
        '<details class="chart-values"><summary>Values</summary><table class="table compact">'
        '<caption class="visually-hidden">{}</caption><thead><tr><th scope="col">{}</th>{}</tr></thead>'
        "<tbody>{}</tbody></table></details>",
        label,
        x_heading,
        head,
        rows,
    )


def line_chart(
    series,
    *,
    width=640,
    height=200,
    y_min=0.0,
    y_max=None,
    x_label="",
    x_end="",
    y_label="",
    label="chart",
    x_heading=None,
    y_unit="",
):
    """Lines over a shared x axis: ``series`` is ``[{"label", "css", "points": [(x, y), ...]}]``.

    Points with ``y`` None are skipped (the line breaks there). The y axis runs from ``y_min`` to
    ``y_max`` (default: the largest y, at least 1). With ``x_heading`` (the x column's heading), the
    values follow the chart as a table (:func:`values_table`). ``y_unit`` (" %") follows every y value
    shown: the ticks, the dots' titles and the table's cells.
    """
    xs = [p[0] for s in series for p in s["points"]]
    ys = [p[1] for s in series for p in s["points"] if p[1] is not None]
    if not xs:
        return ""
    x0, x1 = min(xs), max(xs)
    top = y_max if y_max is not None else max(max(ys, default=1.0), 1e-9)
    # Room on the left for the y tick labels (18k, 1.2M, 0.004), so none is cut off.
    y_ticks = (human_number(y_min) + y_unit, human_number(top) + y_unit)
    pad_left = max(24, round(max(len(t) for t in y_ticks) * TICK_CHAR_PX) + 10)
    plot_w = width - pad_left - PAD_RIGHT
    plot_h = height - PAD_TOP - PAD_BOTTOM

    def px(v):
        return pad_left + plot_w * ((v - x0) / (x1 - x0) if x1 > x0 else 0.5)

    def py(v):
        return PAD_TOP + plot_h * (1 - (v - y_min) / ((top - y_min) or 1.0))

    parts = [
        format_html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" class="axis"/>', pad_left, width - PAD_RIGHT, py(y_min), py(y_min)
        ),
        format_html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid-line"/>', pad_left, width - PAD_RIGHT, py(top), py(top)
        ),
        format_html(
            '<text x="{}" y="{:.1f}" class="tick" text-anchor="end">{}</text>',
            pad_left - 4,
            py(y_min) + 3,
            y_ticks[0],
        ),
        format_html(
            '<text x="{}" y="{:.1f}" class="tick" text-anchor="end">{}</text>', pad_left - 4, py(top) + 3, y_ticks[1]
        ),
        format_html('<text x="{}" y="{}" class="tick">{}</text>', pad_left, height - 4, x_label),
        format_html(
            '<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>',
            width - PAD_RIGHT,
            height - 4,
            # one x value has no range to end: the x label names it
            x_end or (human_number(x1) if x1 > x0 else ""),
        ),
    ]
    for s in series:
        path, pen = [], "M"
        for xv, yv in s["points"]:
            if yv is None:
                pen = "M"
                continue
            path.append(f"{pen}{px(xv):.1f},{py(yv):.1f}")
            pen = "L"
        if path:
            parts.append(
                format_html(
                    '<path d="{}" class="line {}"><title>{}</title></path>', " ".join(path), s["css"], s["label"]
                )
            )
        if len(s["points"]) <= 60:
            for xv, yv in s["points"]:
                if yv is not None:
                    parts.append(
                        format_html(
                            '<circle cx="{:.1f}" cy="{:.1f}" r="2.5" class="dot {}"><title>{}: {}</title></circle>',
                            px(xv),
                            py(yv),
                            s["css"],
                            s.get("x_names", {}).get(xv, xv),
                            human_number(yv) + y_unit,
                        )
                    )
    legend = format_html_join(
        "", '<tspan class="legend-{}" dx="10">— {}</tspan>', ((s["css"], s["label"]) for s in series)
    )
    svg = format_html(
        '<svg viewBox="0 0 {} {}" class="chart" role="img" aria-label="{}">{}'
        '<text x="{}" y="10" class="tick">{}</text></svg>',
        width,
        height,
        label,
        mark_safe("".join(parts)),
        pad_left + 40,
        format_html("{}{}", y_label, legend),
    )
    if x_heading is None:
        return svg
    return format_html("{}{}", svg, values_table(series, x_heading=x_heading, label=label, unit=y_unit))


def overlaid_histogram(histogram, *, width=320, height=120, label="histogram"):
    """Two samples' shares over the same bins, drawn over each other (baseline grey, current blue)."""
    edges = histogram.get("edges") or []
    if len(edges) < 2:
        return ""
    n = len(edges) - 1
    top = max(max(histogram["baseline"], default=0), max(histogram["current"], default=0)) or 1.0
    pad = 4
    plot_h = height - 18
    bar_w = (width - 2 * pad) / n
    parts = []
    for css, shares in (("baseline", histogram["baseline"]), ("current", histogram["current"])):
        for i, share in enumerate(shares):
            if share <= 0:
                continue
            h = plot_h * share / top
            parts.append(
                format_html(
                    '<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" class="hist {}">'
                    "<title>{} {}–{}: {:.1%}</title></rect>",
                    pad + i * bar_w,
                    plot_h - h + 2,
                    max(bar_w - 1, 0.5),
                    h,
                    css,
                    css,
                    human_number(edges[i]),
                    human_number(edges[i + 1]),
                    share,
                )
            )
    parts.append(format_html('<text x="{}" y="{}" class="tick">{}</text>', pad, height - 3, human_number(edges[0])))
    parts.append(
        format_html(
            '<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>',
            width - pad,
            height - 3,
            human_number(edges[-1]),
        )
    )
    svg = format_html(
        '<svg viewBox="0 0 {} {}" class="chart hist-chart" role="img" aria-label="{}">{}</svg>',
        width,
        height,
        label,
        mark_safe("".join(parts)),
    )
    # the bins' shares were only in the bars' tooltips: out of reach of the keyboard and of a screen
    # reader, to which the chart is one image
    rows = format_html_join(
        "",
        '<tr><th scope="row">{}–{}</th><td class="num">{}</td><td class="num">{}</td></tr>',
        (
            (
                human_number(edges[i]),
                human_number(edges[i + 1]),
                f"{histogram['baseline'][i]:.1%}",
                f"{histogram['current'][i]:.1%}",
            )
            for i in range(n)
        ),
    )
    return format_html(
        '{}<details class="chart-values"><summary>Values</summary><table class="table compact">'
        '<caption class="visually-hidden">{}: share of items per bin</caption><thead><tr><th scope="col">Bin</th>'
        '<th scope="col" class="num">baseline</th><th scope="col" class="num">current</th></tr></thead>'
        "<tbody>{}</tbody></table></details>",
        svg,
        label,
        rows,
    )


def stacked_bar(parts, *, total, width=640, height=28, label="progress"):
    """One horizontal bar split into ``parts`` = ``[(legend, count, css)]`` out of ``total``."""
    if not total:
        return ""
    out, x = [], 0.0
    for legend, count, css in parts:
        w = width * count / total
        if w > 0:
            out.append(
                format_html(
                    '<rect x="{:.1f}" y="0" width="{:.1f}" height="{}" class="bar {}"><title>{}: {}</title></rect>',
                    x,
                    w,
                    height,
                    css,
                    legend,
                    count,
                )
            )
        x += w
    return format_html(
        '<svg viewBox="0 0 {} {}" class="chart progress-chart" role="img" aria-label="{}">{}</svg>',
        width,
        height,
        label,
        mark_safe("".join(out)),
    )
