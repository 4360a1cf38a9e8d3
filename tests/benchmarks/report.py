"""The benchmark's outputs: a printed table, results.json, and chart.svg (time against K per variant).

The chart is written by hand as SVG so the benchmark needs no plotting package.
"""

import json
import statistics
from pathlib import Path

COLOURS = {"ours": "#1b6ac9", "snap_connect": "#d9480f", "naive": "#7048e8", "floor": "#2b8a3e"}
TITLES = {"noop": "no-op run (all K already connected)", "fresh": "run from nothing connected"}


def spread(values):
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "runs": len(values)}


def summarise(results):
    """Add min/median/max per variant and the median of per-pair ratios to ours."""
    summary = {}
    for mode, by_k in results["apply"].items():
        for k, by_variant in by_k.items():
            ours = by_variant["ours"]
            row = {}
            for variant, values in by_variant.items():
                entry = spread(values)
                ratios = [v / o for v, o in zip(values, ours)]
                entry["ratio_to_ours"] = spread(ratios)
                row[variant] = entry
            summary.setdefault(mode, {})[str(k)] = row
    results["summary"] = summary
    results["read_only_summary"] = {key: spread(v) for key, v in results.get("read_only", {}).items()}
    results["audit_summary"] = {key: spread(v) for key, v in results.get("audit", {}).items()}
    return results


def table(results):
    lines = []
    lines.append("Apply on %s (snapd %s), %d runs each; seconds min / median / max; ratio = variant / ours per pair of runs"
                 % (results["bench_host"], results["hosts"][results["bench_host"]]["snapd"], results["repeat"]))
    lines.append("%-6s %3s  %-13s %24s   %s" % ("mode", "K", "variant", "seconds", "ratio to ours (median, min-max)"))
    for mode, by_k in results["summary"].items():
        for k, row in sorted(by_k.items(), key=lambda item: int(item[0])):
            for variant, entry in row.items():
                ratio = entry["ratio_to_ours"]
                lines.append("%-6s %3s  %-13s %6.2f / %6.2f / %6.2f   %5.2fx (%.2f-%.2f)" % (
                    mode, k, variant, entry["min"], entry["median"], entry["max"],
                    ratio["median"], ratio["min"], ratio["max"]))
    lines.append("")
    lines.append("snapd API requests per run (from the modules' api_requests)")
    lines.append("%3s  %-20s %-20s %s" % ("K", "shm_connection noop", "shm_connection fresh", "shm_info"))
    for k, row in sorted(results.get("api_requests", {}).items(), key=lambda item: int(item[0])):
        lines.append("%3s  %-20d %-20d %d" % (k, row["noop"], row["fresh"], row["shm_info"]))
    lines.append("")
    lines.append("Read-only modules, ad-hoc `ansible HOST -m ...` wall time, seconds min / median / max")
    for key, entry in results["read_only_summary"].items():
        lines.append("  %-34s %6.2f / %6.2f / %6.2f" % (key, entry["min"], entry["median"], entry["max"]))
    lines.append("")
    lines.append("snapfleet.snapd.audit, forks 3, seconds min / median / max")
    for key, entry in results["audit_summary"].items():
        lines.append("  %-8s %6.2f / %6.2f / %6.2f" % (key, entry["min"], entry["median"], entry["max"]))
    lines.append("")
    for part, error in results.get("errors", {}).items():
        lines.append("FAILED %s: %s" % (part, error.splitlines()[0]))
    for note in results["notes"]:
        lines.append("note: " + note)
    machine = results["machine"]
    lines.append("machine: %s, %d CPUs, %d GiB; %s; %s; community.general %s; whole run %.0f s"
                 % (machine["cpu"], machine["cpus"], machine["memory_gib"], machine["qemu"], machine["ansible_core"],
                    results["community_general"], results["duration_s"]))
    return "\n".join(lines)


def svg(results, width=980, height=420):
    """Two panels (no-op, fresh): median seconds against K per variant, min-max as whiskers."""
    panel_w, top, bottom, left = (width - 40) / 2, 50, 60, 60
    plot_h = height - top - bottom
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="14" font-weight="bold">Wall time against K connections, %s (snapd %s), median of %d with min-max</text>'
           % (left, results["bench_host"], results["hosts"][results["bench_host"]]["snapd"], results["repeat"])]
    for index, (mode, by_k) in enumerate(results["summary"].items()):
        x0 = left + index * (panel_w + 20)
        w = panel_w - left
        ks = sorted(int(k) for k in by_k)
        top_value = max(e["max"] for row in by_k.values() for e in row.values()) * 1.1
        k_lo, k_hi = min(ks), max(max(ks), min(ks) + 1)

        def px(k):
            return x0 + (k - k_lo) / (k_hi - k_lo) * w

        def py(seconds):
            return top + plot_h - seconds / top_value * plot_h

        out.append('<text x="%.0f" y="%d" font-weight="bold">%s</text>' % (x0, top - 12, TITLES.get(mode, mode)))
        out.append('<line x1="%.0f" y1="%d" x2="%.0f" y2="%d" stroke="black"/>' % (x0, top + plot_h, x0 + w, top + plot_h))
        out.append('<line x1="%.0f" y1="%d" x2="%.0f" y2="%d" stroke="black"/>' % (x0, top, x0, top + plot_h))
        for tick in _ticks(top_value):
            out.append('<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>' % (x0, py(tick), x0 + w, py(tick)))
            out.append('<text x="%.0f" y="%.1f" text-anchor="end">%g s</text>' % (x0 - 4, py(tick) + 4, tick))
        for k in ks:
            out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (px(k), top + plot_h + 16, k))
        out.append('<text x="%.0f" y="%d" text-anchor="middle">K (connections)</text>' % (x0 + w / 2, top + plot_h + 34))
        variants = list(next(iter(by_k.values())))
        for variant in variants:
            colour = COLOURS.get(variant, "black")
            points = [(px(k), py(by_k[str(k)][variant]["median"])) for k in ks]
            out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                       % (colour, " ".join("%.1f,%.1f" % p for p in points)))
            for k, (x, y) in zip(ks, points):
                entry = by_k[str(k)][variant]
                out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>' % (x, py(entry["min"]), x, py(entry["max"]), colour))
                out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (x, y, colour))
    for index, variant in enumerate(COLOURS):
        x = left + index * 150
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>' % (x, height - 18, COLOURS[variant]))
        out.append('<text x="%d" y="%d">%s</text>' % (x + 16, height - 8, variant))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _ticks(top_value):
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 50, 100, 200) if top_value / s <= 8)
    return [i * step for i in range(int(top_value / step) + 1)]


def write(results, folder):
    """Write results.json, table.txt and chart.svg under ``folder``; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summarise(results)
    paths = [folder / "results.json", folder / "table.txt", folder / "chart.svg"]
    paths[0].write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    paths[1].write_text(table(results) + "\n")
    paths[2].write_text(svg(results))
    return paths


def check_complete(results, paths):
    """The smoke check: every variant has a time in every mode, and every output is non-empty."""
    missing = [(mode, k, variant) for mode, by_k in results["apply"].items() for k, row in by_k.items()
               for variant, values in row.items() if not values]
    if missing or results.get("errors") or not all(results.get(p) for p in ("api_requests", "read_only", "audit")):
        raise SystemExit("smoke: measurements missing: %s" % (missing or results.get("errors") or "read-only, API or audit"))
    empty = [str(p) for p in paths if not p.exists() or p.stat().st_size == 0]
    if empty:
        raise SystemExit("smoke: outputs not written: %s" % ", ".join(empty))
