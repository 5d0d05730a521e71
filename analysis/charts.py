"""Small server-rendered SVG charts for the report pages (no chart library, nothing loaded at run time).

Each function takes plain numbers and answers a safe SVG string; every label passes through
``format_html`` (Django's escaping, with numbers kept numbers), so user-provided names (tags, statistics,
sources) are escaped.
"""

from numbers import Number

from django.utils.html import conditional_escape, format_html_join
from django.utils.safestring import mark_safe


def format_html(fmt, *args):
    """``django.utils.html.format_html`` that keeps numbers numbers, so ``{:.1f}`` works on them."""
    safe = [a if isinstance(a, Number) else conditional_escape(a) for a in args]
    return mark_safe(fmt.format(*safe))


PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 130, 16, 14, 26


def _fmt(value, digits=3):
    return "—" if value is None else f"{value:.{digits}f}"


def _value(metric):
    if metric is None:
        return None
    return metric["value"] if isinstance(metric, dict) else metric


def interval_bars(rows, *, series, domain=(0.0, 1.0), width=640, label="chart"):
    """Horizontal bars with 95 % interval whiskers, one group per row and one bar per series.

    ``rows``: ``[{"label": str, "values": {key: {"value", "ci_low", "ci_high"} | float | None}}]``;
    ``series``: ``[(key, legend, css class)]``; ``domain``: the value range of the x axis.
    """
    bar_h, gap = 9, 10
    group_h = bar_h * len(series) + gap
    height = PAD_TOP + PAD_BOTTOM + group_h * max(len(rows), 1)
    lo, hi = domain
    span = (hi - lo) or 1.0
    plot_w = width - PAD_LEFT - PAD_RIGHT

    def x(v):
        return PAD_LEFT + plot_w * (min(max(v, lo), hi) - lo) / span

    base = x(0.0) if lo <= 0.0 <= hi else x(lo)  # bars grow from zero (negative gaps to the left)
    parts = []
    for i, row in enumerate(rows):
        y0 = PAD_TOP + i * group_h
        parts.append(
            format_html(
                '<text x="{}" y="{}" class="tick label" text-anchor="end">{}</text>',
                PAD_LEFT - 6,
                y0 + bar_h * len(series) / 2 + 4,
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
    ticks = [lo + span * t / 4 for t in range(5)]
    parts.append(format_html('<line x1="{}" x2="{}" y1="{}" y2="{}" class="axis"/>', x(lo), x(hi), axis_y, axis_y))
    for t in ticks:
        parts.append(
            format_html(
                '<text x="{:.1f}" y="{}" class="tick" text-anchor="middle">{}</text>', x(t), axis_y + 12, f"{t:g}"
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
        PAD_LEFT,
        legend,
    )


def line_chart(
    series, *, width=640, height=200, y_min=0.0, y_max=None, x_label="", x_end="", y_label="", label="chart"
):
    """Lines over a shared x axis: ``series`` is ``[{"label", "css", "points": [(x, y), ...]}]``.

    Points with ``y`` None are skipped (the line breaks there). The y axis runs from ``y_min`` to
    ``y_max`` (default: the largest y, at least 1).
    """
    pad_left = 48
    xs = [p[0] for s in series for p in s["points"]]
    ys = [p[1] for s in series for p in s["points"] if p[1] is not None]
    if not xs:
        return ""
    x0, x1 = min(xs), max(xs)
    top = y_max if y_max is not None else max(max(ys, default=1.0), 1e-9)
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
            f"{y_min:g}",
        ),
        format_html(
            '<text x="{}" y="{:.1f}" class="tick" text-anchor="end">{}</text>', pad_left - 4, py(top) + 3, f"{top:.3g}"
        ),
        format_html('<text x="{}" y="{}" class="tick">{}</text>', pad_left, height - 4, x_label),
        format_html(
            '<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>', width - PAD_RIGHT, height - 4, f"{x1:g}"
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
                            f"{yv:.3g}",
                        )
                    )
    legend = format_html_join(
        "", '<tspan class="legend-{}" dx="10">— {}</tspan>', ((s["css"], s["label"]) for s in series)
    )
    return format_html(
        '<svg viewBox="0 0 {} {}" class="chart" role="img" aria-label="{}">{}'
        '<text x="{}" y="10" class="tick">{}</text></svg>',
        width,
        height,
        label,
        mark_safe("".join(parts)),
        pad_left + 40,
        format_html("{}{}", y_label, legend),
    )


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
                    "<title>{} {:.4g}–{:.4g}: {:.1%}</title></rect>",
                    pad + i * bar_w,
                    plot_h - h + 2,
                    max(bar_w - 1, 0.5),
                    h,
                    css,
                    css,
                    edges[i],
                    edges[i + 1],
                    share,
                )
            )
    parts.append(format_html('<text x="{}" y="{}" class="tick">{}</text>', pad, height - 3, f"{edges[0]:.4g}"))
    parts.append(
        format_html(
            '<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>', width - pad, height - 3, f"{edges[-1]:.4g}"
        )
    )
    return format_html(
        '<svg viewBox="0 0 {} {}" class="chart hist-chart" role="img" aria-label="{}">{}</svg>',
        width,
        height,
        label,
        mark_safe("".join(parts)),
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
