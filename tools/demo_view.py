#!/usr/bin/env python3
"""The demo's live terminal view: the latest weeks' front-door and school KPIs, the backlogs and
the processor's progress, redrawn every second from GET /kpi and GET /metrics. Aggregates only.

  tools/demo_view.py --http 127.0.0.1:9465 --metrics 127.0.0.1:9464 [--total N] [--once]
"""
import argparse
import json
import sys
import time
import urllib.request


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()
    except Exception:
        return None


def metrics(text):
    out = {}
    for line in (text or "").splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def total(m, prefix):
    return sum(v for k, v in m.items() if k == prefix or k.startswith(prefix + "{"))


def render(args):
    table = json.loads(fetch(f"http://{args.http}/kpi?dimension=all") or '{"rows": []}')
    m = metrics(fetch(f"http://{args.metrics}/metrics"))
    rows = table.get("rows", [])
    cells = {(r["kpi"], r["week_start"]): r for r in rows}
    # The stream's latest weeks: those with front-door or school activity so far.
    weeks = sorted({r["week_start"] for r in rows
                    if r["kpi"] in ("contacts", "referrals", "attendance_rate")})[-args.weeks:]

    def c(kpi, w):
        r = cells.get((kpi, w))
        return r["count"] if r else 0

    def pct(kpi, w):
        r = cells.get((kpi, w))
        return f"{100.0 * r['count'] / r['base']:.1f}%" if r and r["base"] else "-"

    lines = []
    lines.append(f"kpi-processor demo · as_of {table.get('as_of', '-')} · "
                 f"metrics http://{args.metrics}/metrics · queries http://{args.http}/kpi")
    consumed = total(m, "kpi_events_consumed_total")
    progress = f"{consumed:,.0f}" + (f" / {args.total:,} events" if args.total else " events")
    lines.append(f"consumed {progress} · applied {total(m, 'kpi_events_applied_total'):,.0f} · "
                 f"stale {total(m, 'kpi_events_stale_total'):,.0f} · dead-lettered "
                 f"{total(m, 'kpi_dead_letters_total'):,.0f} · lag {total(m, 'kpi_consumer_lag'):,.0f} · "
                 f"commits {total(m, 'kpi_commits_total'):,.0f}")
    lines.append("")
    header = f"{'week':<11}{'contacts':>9}{'referrals':>10}{'S47s':>6}{'assess.':>8}{'done':>6}" \
             f"{'in 45d':>8}{'ICPCs':>6}{'attend.':>8}{'pers.abs':>9}{'suspens.':>9}"
    lines.append(header)
    lines.append("-" * len(header))
    for w in weeks:
        lines.append(f"{w:<11}{c('contacts', w):>9}{c('referrals', w):>10}{c('s47_started', w):>6}"
                     f"{c('assessments_started', w):>8}{c('assessments_completed', w):>6}"
                     f"{pct('assessments_in_timescale', w):>8}{c('icpc_held', w):>6}"
                     f"{pct('attendance_rate', w):>8}{pct('persistent_absence', w):>9}"
                     f"{c('suspensions', w):>9}")
    lines.append("")
    b = {k.split('"')[1]: v for k, v in m.items() if k.startswith('kpi_backlog{')}
    lines.append(
        f"backlog at as_of: assessments open {b.get('assessments_open', 0):.0f} "
        f"({b.get('assessments_overdue', 0):.0f} past 45 working days) · S47s awaiting ICPC "
        f"{b.get('s47_awaiting_icpc', 0):.0f} ({b.get('s47_icpc_overdue', 0):.0f} past 15) · "
        f"CP {b.get('cp_plans_open', 0):.0f} · CIN {b.get('cin_plans_open', 0):.0f} · "
        f"looked after {b.get('cla_open', 0):.0f}")

    def share(kpi, ws):  # the weeks' counts over their bases
        n = sum(cells[(kpi, w)]["count"] for w in ws if (kpi, w) in cells)
        d = sum(cells[(kpi, w)]["base"] for w in ws if (kpi, w) in cells)
        return f"{100.0 * n / d:.0f}% of {d}" if d else "-"

    now = weeks[-1:]  # the snapshot shares: the week of as_of
    lines.append(
        f"EHC over these weeks: plans issued in 20 weeks {share('ehc_plans_issued_in_20w', weeks)}"
        f" ({share('ehc_plans_issued_in_20w_excl_exceptions', weeks)} without exceptions) · "
        f"decisions in 6 weeks {share('ehc_decisions_in_6w', weeks)} · at as_of: undecided past "
        f"6 weeks {b.get('ehc_decisions_overdue', 0):.0f} · waiting over 20 weeks "
        f"{b.get('ehc_waiting_over_20w', 0):.0f} · annual reviews overdue "
        f"{b.get('ehc_reviews_overdue', 0):.0f}")
    lines.append(
        f"reviews in timescale over these weeks: CP {share('cp_reviews_in_timescale', weeks)} · "
        f"looked after {share('cla_reviews_in_timescale', weeks)} · at as_of: overdue CP "
        f"{b.get('cp_reviews_overdue', 0):.0f}, looked after "
        f"{b.get('cla_reviews_overdue', 0):.0f} · visits in timescale CP "
        f"{share('cp_visits_in_timescale', now)}, looked after "
        f"{share('cla_visits_in_timescale', now)}")
    lines.append(
        f"front door over these weeks: re-referrals within 12 months "
        f"{share('referrals_repeat_12m', weeks)} referrals · no further action "
        f"{share('referrals_nfa', weeks)} · due soon at as_of: assessments "
        f"{b.get('assessments_due_soon', 0):.0f}, S47s without ICPC "
        f"{b.get('s47_icpc_due_soon', 0):.0f}, EHC decisions "
        f"{b.get('ehc_decisions_due_soon', 0):.0f}, EHC plans {b.get('ehc_plans_due_soon', 0):.0f}")
    if not m:
        lines.append("(waiting for the processor's metrics ...)")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--http", default="127.0.0.1:9465")
    ap.add_argument("--metrics", default="127.0.0.1:9464")
    ap.add_argument("--weeks", type=int, default=8)
    ap.add_argument("--total", type=int, default=0, help="events the generator will send")
    ap.add_argument("--once", action="store_true", help="print one frame and exit")
    args = ap.parse_args()
    if args.once:
        print(render(args))
        return
    try:
        while True:
            frame = render(args)
            sys.stdout.write("\033[H\033[2J" + frame + "\n\n(Ctrl-C stops the demo)\n")
            sys.stdout.flush()
            time.sleep(1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
