#!/usr/bin/env python3
"""Renders the front-door manager's dashboard as an SVG from a running kpi-processor.

Reads the whole KPI table from GET /kpi and the backlogs from GET /metrics (the same figures the
Grafana dashboard in deploy/grafana shows), and draws this week's tiles, the weekly trends of the
last `--weeks` weeks and the backlogs. Aggregates only: the processor never serves anything else.

  tools/dashboard/render_svg.py --http 127.0.0.1:9465 --metrics 127.0.0.1:9464 --output dash.svg
"""
import argparse
import json
import sys
import urllib.request
from html import escape

W, H = 1200, 1330
BLUE, ORANGE, GREEN, RED, GREY, INK = "#1d70b8", "#f47738", "#00703c", "#d4351c", "#b1b4b6", "#0b0c0c"


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def series(rows, kpi, weeks, rate=False):
    by_week = {r["week_start"]: r for r in rows if r["kpi"] == kpi and r["dimension"] == "all"}
    out = []
    for w in weeks:
        r = by_week.get(w)
        if rate:
            out.append(100.0 * r["count"] / r["base"] if r and r["base"] else None)
        else:
            out.append(r["count"] if r else 0)
    return out


class Svg:
    def __init__(self):
        self.parts = []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=14, weight="normal", fill=INK, anchor="start"):
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" '
                 f'fill="{fill}" text-anchor="{anchor}">{escape(str(s))}</text>')

    def rect(self, x, y, w, h, fill, stroke="none"):
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}" '
                 f'stroke="{stroke}"/>')

    def line(self, x1, y1, x2, y2, stroke=GREY, width=1):
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                 f'stroke="{stroke}" stroke-width="{width}"/>')

    def polyline(self, pts, stroke, width=2.5):
        if len(pts) > 1:
            p = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            self.add(f'<polyline points="{p}" fill="none" stroke="{stroke}" stroke-width="{width}"/>')
        for x, y in pts:
            self.add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{stroke}"/>')


def tile(svg, x, y, w, h, title, value, sub, colour=INK):
    svg.rect(x, y, w, h, "#f3f2f1")
    svg.rect(x, y, 5, h, colour)
    svg.text(x + 16, y + 26, title, 14, fill="#505a5f")
    svg.text(x + 16, y + 68, value, 36, "bold", colour)
    svg.text(x + 16, y + h - 14, sub, 13, fill="#505a5f")


def chart(svg, x, y, w, h, title, weeks, lines, kind="line", ymax=None, unit=""):
    svg.text(x, y - 30, title, 16, "bold")
    values = [v for _, _, vs in lines for v in vs if v is not None]
    top = ymax if ymax is not None else 4 * -(-max(values + [1]) * 1.15 // 4)  # whole ticks
    svg.line(x, y + h, x + w, y + h, INK)
    for i in range(5):
        gy = y + h - h * i / 4
        svg.line(x, gy, x + w, gy, "#e5e5e5")
        svg.text(x - 6, gy + 4, f"{top * i / 4:.0f}{unit}", 11, fill="#505a5f", anchor="end")
    n = len(weeks)
    step = w / n
    for i, wk in enumerate(weeks):
        if i % 2 == 0 or n <= 8:
            svg.text(x + step * (i + 0.5), y + h + 16, wk[5:], 10, fill="#505a5f", anchor="middle")
    if kind == "bar":
        bw = step * 0.8 / len(lines)
        for j, (_, colour, vs) in enumerate(lines):
            for i, v in enumerate(vs):
                bh = h * (v or 0) / top
                svg.rect(x + step * i + step * 0.1 + bw * j, y + h - bh, bw - 1, bh, colour)
    else:
        for _, colour, vs in lines:
            pts = [(x + step * (i + 0.5), y + h - h * v / top) for i, v in enumerate(vs) if v is not None]
            svg.polyline(pts, colour)
    lx = x
    for name, colour, _ in lines:
        svg.rect(lx, y - 20, 12, 12, colour)
        svg.text(lx + 16, y - 10, name, 12)
        lx += 8 * len(name) + 34


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--http", default="127.0.0.1:9465", help="the processor's http.address")
    ap.add_argument("--metrics", default="127.0.0.1:9464", help="the processor's metrics.address")
    ap.add_argument("--weeks", type=int, default=12)
    ap.add_argument("--authority", default="Generated authority")
    ap.add_argument("--output", default="-")
    args = ap.parse_args()

    table = json.loads(fetch(f"http://{args.http}/kpi?dimension=all"))
    rows, as_of = table["rows"], table["as_of"]
    backlog = {}
    for line in fetch(f"http://{args.metrics}/metrics").splitlines():
        if line.startswith('kpi_backlog{backlog="'):
            name = line.split('"')[1]
            backlog[name] = int(float(line.rsplit(" ", 1)[1]))
    all_weeks = sorted({r["week_start"] for r in rows})
    weeks = all_weeks[-args.weeks:]
    if len(weeks) < 2:
        sys.exit("render_svg: the table has fewer than two weeks")
    cur, prev = weeks[-1], weeks[-2]

    def value(kpi, week):
        return series(rows, kpi, [week])[0]

    def pct(kpi, week):
        v = series(rows, kpi, [week], rate=True)[0]
        return "–" if v is None else f"{v:.0f}%"

    svg = Svg()
    svg.rect(0, 0, W, H, "white")
    svg.rect(0, 0, W, 64, INK)
    svg.text(24, 40, f"Front door · {args.authority}", 24, "bold", "white")
    svg.text(W - 24, 28, f"week of {cur} · as at {as_of}", 15, fill="white", anchor="end")
    svg.text(W - 24, 50, "kpi-processor · counts of children and records, no individual data", 12,
             fill="#b1b4b6", anchor="end")

    tw, th, ty = 180, 110, 84
    specs = [
        ("Contacts (children)", value("contacts", cur), f"last week {value('contacts', prev)}", BLUE),
        ("Referrals (children)", value("referrals", cur), f"last week {value('referrals', prev)}", BLUE),
        ("Assessments started", value("assessments_started", cur), f"completed {value('assessments_completed', cur)}", INK),
        ("S47 enquiries started", value("s47_started", cur), f"last week {value('s47_started', prev)}", INK),
        ("Assessments ≤ 45 days", pct("assessments_in_timescale", prev), "last full week", GREEN),
        ("ICPC ≤ 15 days", pct("icpc_in_timescale", prev), "last full week", GREEN),
    ]
    for i, (t, v, s, c) in enumerate(specs):
        tile(svg, 24 + i * (tw + 14), ty, tw, th, t, v, s, c)

    cy, ch, cw = 262, 160, 540
    chart(svg, 70, cy, cw, ch, "Contacts and referrals per week", weeks,
          [("contacts", BLUE, series(rows, "contacts", weeks)),
           ("referrals", ORANGE, series(rows, "referrals", weeks))], kind="bar")
    chart(svg, 640, cy, cw, ch, "Assessments started vs completed per week", weeks,
          [("started", BLUE, series(rows, "assessments_started", weeks)),
           ("completed", GREEN, series(rows, "assessments_completed", weeks))])
    cy2 = cy + ch + 86
    chart(svg, 70, cy2, cw, ch, "Assessments authorised within 45 working days, %", weeks,
          [("in timescale", GREEN, series(rows, "assessments_in_timescale", weeks, rate=True))],
          ymax=100, unit="%")
    chart(svg, 640, cy2, cw, ch, "School attendance, % of possible sessions", weeks,
          [("attendance", BLUE, series(rows, "attendance_rate", weeks, rate=True))], ymax=100, unit="%")

    by = cy2 + ch + 60
    svg.text(24, by - 10, f"Backlogs at {as_of}", 16, "bold")
    bspecs = [
        ("Assessments open", backlog.get("assessments_open", 0), f"{backlog.get('assessments_overdue', 0)} past 45 working days",
         RED if backlog.get("assessments_overdue", 0) else GREEN),
        ("S47s awaiting ICPC", backlog.get("s47_awaiting_icpc", 0), f"{backlog.get('s47_icpc_overdue', 0)} past 15 working days",
         RED if backlog.get("s47_icpc_overdue", 0) else GREEN),
        ("Child protection plans", backlog.get("cp_plans_open", 0), "children, open", INK),
        ("Child in need plans", backlog.get("cin_plans_open", 0), "children, open", INK),
        ("Looked after", backlog.get("cla_open", 0), "children (not V3/V4)", INK),
    ]
    bw = (W - 48 - 4 * 14) / 5
    for i, (t, v, s, c) in enumerate(bspecs):
        tile(svg, 24 + i * (bw + 14), by, bw, th, t, v, s, c)

    def share(kpi, ws):  # the weeks' counts over their bases
        n = sum(series(rows, kpi, ws))
        base = {r["week_start"]: r["base"] for r in rows if r["kpi"] == kpi and r["dimension"] == "all"}
        d = sum(base.get(w, 0) for w in ws)
        return ("–" if not d else f"{100.0 * n / d:.0f}%"), d

    def share_tile(title, kpi, ws, what):
        v, d = share(kpi, ws)
        return (title, v, f"of {d} {what}", GREEN)

    def backlog_tile(title, name, what):
        n = backlog.get(name, 0)
        return (title, n, what, RED if n else GREEN)

    period = f"{weeks[0][5:]} to {cur[5:]}"
    rows_of_tiles = [
        (f"SEND: EHC needs assessments and plans ({period}; backlogs at {as_of})", [
            share_tile("Plans in 20 weeks", "ehc_plans_issued_in_20w", weeks, "plans issued"),
            share_tile("… excl. exceptions", "ehc_plans_issued_in_20w_excl_exceptions", weeks, "plans issued"),
            share_tile("Decisions in 6 weeks", "ehc_decisions_in_6w", weeks, "decisions"),
            backlog_tile("Undecided > 6 weeks", "ehc_decisions_overdue", "requests"),
            backlog_tile("Waiting > 20 weeks", "ehc_waiting_over_20w", "requests"),
            backlog_tile("Annual review overdue", "ehc_reviews_overdue", "children with a plan"),
        ]),
        (f"Child protection and children in care: reviews ({period}) and visits (at {as_of})", [
            share_tile("CP reviews on time", "cp_reviews_in_timescale", weeks, "reviews"),
            share_tile("CLA reviews on time", "cla_reviews_in_timescale", weeks, "reviews"),
            share_tile("CP visits ≤ 10 days", "cp_visits_in_timescale", [cur], "children"),
            share_tile("CLA visits in time", "cla_visits_in_timescale", [cur], "children"),
            backlog_tile("CP review overdue", "cp_reviews_overdue", "children"),
            backlog_tile("CLA review overdue", "cla_reviews_overdue", "children"),
        ]),
        (f"Front door: re-referrals ({period}) and cases due to pass their limit soon (at {as_of})", [
            share_tile("Re-referred ≤ 12 months", "referrals_repeat_12m", weeks, "referrals"),
            share_tile("No further action", "referrals_nfa", weeks, "referrals"),
            backlog_tile("Assessments due soon", "assessments_due_soon", "≤ 5 working days left"),
            backlog_tile("S47 ICPC due soon", "s47_icpc_due_soon", "≤ 3 working days left"),
            backlog_tile("EHC decisions due soon", "ehc_decisions_due_soon", "≤ 7 days left"),
            backlog_tile("EHC plans due soon", "ehc_plans_due_soon", "≤ 14 days left"),
        ]),
    ]
    ry = by + th + 50
    for title, tiles in rows_of_tiles:
        svg.text(24, ry - 10, title, 16, "bold")
        for i, (t, v, s, c) in enumerate(tiles):
            tile(svg, 24 + i * (tw + 14), ry, tw, th, t, v, s, c)
        ry += th + 50

    out = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="Helvetica, Arial, sans-serif">\n' + "\n".join(svg.parts) + "\n</svg>\n")
    if args.output == "-":
        sys.stdout.write(out)
    else:
        with open(args.output, "w") as f:
            f.write(out)


if __name__ == "__main__":
    main()
