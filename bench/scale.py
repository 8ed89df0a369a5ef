"""How each operation grows with the schema: times and peak memory from 10 to 10,000
tables, the exponent of each (the slope of log time over log size on the largest sizes),
and a log-log chart.

``python -m bench.scale RESULTS.json [MORE.json ...] [--chart PNG] [--fit-from 1000]``
reads the raw results of ``python -m bench --json`` (several files are merged: a later
file's figure for the same size, tool and operation wins) and prints the markdown section
docs/benchmarks.md keeps under "Scale".
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.common import fmt_seconds
from bench.suite import BATCH, PSQL, RESTORE, TRIMTAB, Results, k, percentile

MB = 1_000_000
MEMORY_LIMIT_MB = 300


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    tool: str  # a Results tool, or "lsp"
    change: bool = False  # the work should follow the change, not the schema


SERIES: tuple[Series, ...] = (
    Series("push_empty", "push from empty", TRIMTAB),
    Series("push_noop", "no-op push (first)", TRIMTAB),
    Series("push_noop_again", "no-op push (from its record)", TRIMTAB),
    Series("push_one", "push after one change", TRIMTAB, change=True),
    Series("generate_one", "generate after one change", TRIMTAB, change=True),
    Series("migrate_full", "migrate of the full history", TRIMTAB),
    Series("first_fast", "language server: first diagnostics", "lsp"),
    Series("p95_fast", "language server: keystroke p95", "lsp", change=True),
)
FLOOR_SERIES: tuple[Series, ...] = tuple(
    Series(op, f"{label}: {tool} floor", tool)
    for op, label in (("push_empty", "push from empty"), ("migrate_full", "migrate"))
    for tool in (PSQL, BATCH, RESTORE))


def load(paths: list[Path]) -> Results:
    """The results of several runs as one (later files win per size, tool and operation)."""
    merged: Results | None = None
    for path in paths:
        data = json.loads(path.read_text())
        data["peer_runs"] = {int(n): r for n, r in data["peer_runs"].items()}
        res = Results(**data)
        if merged is None:
            merged = res
            continue
        merged.sizes = sorted(set(merged.sizes) | set(res.sizes))
        for name in ("times", "memory", "errors", "internals", "lsp", "stats", "sql_bytes"):
            getattr(merged, name).update(getattr(res, name))
        merged.notes += [n for n in res.notes if n not in merged.notes]
        merged.load += res.load
        merged.wall_seconds += res.wall_seconds
    if merged is None:
        raise ValueError("no results")
    merged.sizes = sorted(merged.sizes)
    return merged


def seconds(res: Results, n: int, s: Series) -> float | None:
    if s.tool == "lsp":
        lsp = res.lsp.get(k(n))
        if not lsp:
            return None
        if s.key == "p95_fast":
            return float(percentile(lsp["fast"], 95)) if lsp.get("fast") else None
        return float(lsp[s.key])
    t = res.times.get(k(n, s.tool, s.key))
    return statistics.median(t) if t else None


def peak(res: Results, n: int, s: Series) -> float | None:
    if s.tool == "lsp":
        v = res.lsp.get(k(n), {}).get("peak_rss")
        return v / MB if v else None
    mem = res.memory.get(k(n, s.tool, s.key))
    return max(mem) / MB if mem else None


def exponent(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of log(time) over log(size): 1 is linear, 0 constant, 2
    quadratic. None with fewer than two points."""
    pts = [(math.log(n), math.log(t)) for n, t in points if n > 0 and t > 0]
    if len(pts) < 2:
        return None
    mx = statistics.fmean(x for x, _ in pts)
    my = statistics.fmean(y for _, y in pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in pts) / sxx


def fit(res: Results, s: Series, fit_from: int) -> tuple[float | None, float | None]:
    """(exponent over the sizes >= fit_from, exponent between the two largest sizes)."""
    pts = [(n, v) for n in res.sizes if n >= fit_from
           and (v := seconds(res, n, s)) is not None]
    return exponent(pts), exponent(pts[-2:]) if len(pts) >= 2 else None


def verdict(s: Series, e: float | None) -> str:
    """Above linear in the schema, or (for the work of one change) clearly growing with
    the schema, is a finding. 0.15 of slack: one run on a shared machine."""
    if e is None:
        return "–"
    if e > 1.15:
        return "**above linear**"
    if s.change and e > 0.15:
        return "**grows with the schema**"
    return "ok"


def _fmt_e(e: float | None) -> str:
    return "–" if e is None else f"{e:.2f}"


def render(res: Results, chart: str | None, fit_from: int = 1000) -> str:
    sizes = res.sizes
    heads = " | ".join(f"N={n}" for n in sizes)
    fitted = [n for n in sizes if n >= fit_from]
    out = [
        f"| operation | {heads} | exponent N={fitted[0] if fitted else '?'}–"
        f"{fitted[-1] if fitted else '?'} | last step | verdict |",
        "|---|" + "---:|" * len(sizes) + "---:|---:|---|",
    ]
    for s in (*SERIES, *FLOOR_SERIES):
        cells = []
        for n in sizes:
            v = seconds(res, n, s)
            cells.append("–" if v is None else (f"{v * 1000:.0f} ms" if s.tool == "lsp" and
                                                v < 1 else f"{fmt_seconds(v)} s"))
        e, last = fit(res, s, fit_from)
        out.append(f"| {s.label} | " + " | ".join(cells)
                   + f" | {_fmt_e(e)} | {_fmt_e(last)} | {verdict(s, e)} |")
    if chart:
        out += ["", f"![Time against number of tables, log scales]({chart})"]
    out += ["", f"Peak memory, MB (10^6 bytes): the command's process tree (language server: "
            f"its process); over {MEMORY_LIMIT_MB} MB in bold.", "",
            f"| operation | {heads} |", "|---|" + "---:|" * len(sizes)]
    for s in SERIES:
        if s.key == "p95_fast":
            continue
        cells = []
        for n in sizes:
            v = peak(res, n, s)
            text = "–" if v is None else f"{v:.0f}"
            cells.append(f"**{text}**" if v is not None and v > MEMORY_LIMIT_MB else text)
        label = "language server" if s.tool == "lsp" else s.label
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out += ["", "Floors next to trimtab (trimtab ÷ floor; below 1x trimtab is faster):", "",
            f"| operation | floor | {heads} |", "|---|---|" + "---:|" * len(sizes)]
    for op, label in (("push_empty", "push from empty"), ("migrate_full", "migrate")):
        for floor in (PSQL, BATCH, RESTORE):
            cells = []
            for n in sizes:
                a = res.times.get(k(n, TRIMTAB, op))
                b = res.times.get(k(n, floor, op))
                cells.append(f"{statistics.median(a) / statistics.median(b):.1f}x"
                             if a and b else "–")
            out.append(f"| {label} | {floor} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def write_chart(res: Results, path: Path, fit_from: int = 1000) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6), constrained_layout=True)
    styles = ["o-", "s--", "v--", "^:", "D:", "o-", "o-", "^:"]
    for ax, series in ((left, SERIES[:6] + FLOOR_SERIES), (right, SERIES[6:])):
        for i, s in enumerate(series):
            pts = [(n, v) for n in res.sizes if (v := seconds(res, n, s)) is not None]
            if not pts:
                continue
            e, _ = fit(res, s, fit_from)
            floor = s in FLOOR_SERIES
            ax.plot([n for n, _ in pts], [v for _, v in pts],
                    ("x-" if floor else styles[i % len(styles)]), markersize=5,
                    alpha=0.55 if floor else 1.0,
                    label=f"{s.label} (exponent {_fmt_e(e)})")
        # A slope-1 guide through the middle of the panel's figures.
        ys = [y for line in ax.lines for y in line.get_ydata()]
        if ys:
            lo, hi = min(res.sizes), max(res.sizes)
            mid = math.sqrt(min(ys) * max(ys))
            ax.plot([lo, hi], [mid * lo / math.sqrt(lo * hi), mid * hi / math.sqrt(lo * hi)],
                    color="grey", linewidth=0.8, linestyle="-", alpha=0.5,
                    label="slope 1 (linear)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("tables (N)")
        ax.set_ylabel("seconds")
        ax.set_xticks(res.sizes, [str(n) for n in res.sizes])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", framealpha=0.8)
    left.set_title("trimtab commands and PostgreSQL floors")
    right.set_title("language server")
    fig.suptitle(f"Time against schema size, log scales ({res.date}); exponent fitted on "
                 f"N >= {fit_from}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("results", nargs="+", type=Path,
                        help="raw results of `python -m bench --json FILE`")
    parser.add_argument("--chart", type=Path, help="also draw the log-log chart (PNG)")
    parser.add_argument("--chart-link", help="the chart's path as the markdown links it")
    parser.add_argument("--fit-from", type=int, default=1000,
                        help="fit the exponent on the sizes from this one (default 1000)")
    args = parser.parse_args(argv)
    res = load(args.results)
    if args.chart:
        write_chart(res, args.chart, args.fit_from)
    print(render(res, args.chart_link or (str(args.chart) if args.chart else None),
                 args.fit_from))
    return 0


if __name__ == "__main__":
    sys.exit(main())
