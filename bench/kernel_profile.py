#!/usr/bin/env python3
"""Per-kernel view of a model (the Llama block, or the whole 7B model): where
a step's time goes, and how far each kernel is from its floors.

  python3 bench/kernel_profile.py RAW_JSON OUT_DIR PROFILE.jsonl [PROFILE.jsonl ...]

RAW_JSON is bench_torch.py's raw.json (for the ceilings measured in the same
run: copy bandwidth, cuBLAS f32 and f16 rates); each PROFILE.jsonl holds
`bench_greta --profile` output (one JSON line per launch, after the step's
own line). Writes OUT_DIR/profile.md (a table per profile: each launch's
time, share of the step, floor and % of floor; with `bench_greta --in-step`
also what the launch costs the step, the step's time minus the step's without
it, and that cost's % of the floor) and OUT_DIR/roofline_block.png
(every launch on the roofline). Launches of the same kernel in one step are
merged (their times and floors summed).

(Not named profile.py: bench/ is first on sys.path for bench_torch.py, and a
profile.py there shadows the standard library's profile module that torch
and transformers import.)
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_profile(path):
    step, launches = None, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if "launch" in record:
                launches.append(record)
            else:
                step = record
    return step, launches


def merge(launches):
    """One row per kernel: summed time and floors, the launch count."""
    rows = {}
    for l in launches:
        r = rows.setdefault(l["kernel"], {"op": l["op"], "kernel": l["kernel"], "n": 0,
                                          "ms": 0.0, "in_step_ms": 0.0, "bytes": 0, "flops": 0})
        r["n"] += 1
        r["ms"] += l["median_ms"]
        r["in_step_ms"] += l.get("in_step_ms", float("nan"))
        r["bytes"] += l["bytes"]
        r["flops"] += l["flops"]
    return sorted(rows.values(), key=lambda r: -r["ms"])


def floor_ms(row, ceilings, half):
    peak = ceilings["peak_f16_flops"] if half else ceilings["peak_f32_flops"]
    t_bytes = row["bytes"] / ceilings["bandwidth_Bps"] * 1e3
    t_flops = row["flops"] / peak * 1e3
    return (t_bytes, "bytes") if t_bytes >= t_flops else (t_flops, "FLOPs")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    raw = json.load(open(sys.argv[1]))
    out_dir = sys.argv[2]
    ceilings = raw["ceilings"]
    md = [f"Ceilings (same run): {ceilings['bandwidth_Bps'] / 1e12:.2f} TB/s, "
          f"f32 {ceilings['peak_f32_flops'] / 1e12:.1f} TFLOP/s, "
          f"f16 {ceilings['peak_f16_flops'] / 1e12:.1f} TFLOP/s.\n"]
    fig, ax = plt.subplots(figsize=(10, 6.5))
    bw, p32, p16 = ceilings["bandwidth_Bps"], ceilings["peak_f32_flops"], ceilings["peak_f16_flops"]
    xs = [10 ** (i / 10) for i in range(-30, 51)]
    ax.plot(xs, [min(bw * x, p32) / 1e12 for x in xs], "--", color="gray", label="roof, f32 peak")
    ax.plot(xs, [min(bw * x, p16) / 1e12 for x in xs], "-", color="gray", label="roof, f16 peak")
    markers = "osD^v<>"
    for k, path in enumerate(sys.argv[3:]):
        step, launches = load_profile(path)
        name = step["name"] if step else path
        half = "f16" in name or "bf16" in name
        rows = merge(launches)
        total = sum(r["ms"] for r in rows)
        step_ms = step["median_ms"] if step else float("nan")
        in_step = all("in_step_ms" in l for l in launches)
        md.append(f"\n### {name}\n\nThe step as one graph: {step_ms:.4f} ms; its launches "
                  f"alone (one-kernel graphs) add up to {total:.4f} ms.\n")
        if in_step:
            md.append(f"In the step: what each costs it, the step's time minus the step's "
                      f"without it (these add up to "
                      f"{sum(r['in_step_ms'] for r in rows):.4f} ms).\n")
        head = "| kernel | op | launches | ms | share | floor ms (bound) | % of floor |"
        md.append(head + (" in the step ms | % of floor in the step |" if in_step else ""))
        md.append("| --- " * (9 if in_step else 7) + "|")
        pts_x, pts_y = [], []
        for r in rows:
            f, bound = floor_ms(r, ceilings, half)
            line = (f"| {r['kernel']} | {r['op']} | {r['n']} | {r['ms']:.4f} | "
                    f"{100 * r['ms'] / total:.1f} % | {f:.4f} ({bound}) | "
                    f"{100 * f / r['ms']:.1f} |")
            if in_step:
                cost = r["in_step_ms"]
                line += f" {cost:.4f} | " + (f"{100 * f / cost:.1f} |" if cost > 0 else "- |")
            md.append(line)
            if r["flops"] > 0 and r["bytes"] > 0:
                pts_x.append(r["flops"] / r["bytes"])
                pts_y.append(r["flops"] / (r["ms"] * 1e-3) / 1e12)
        ax.scatter(pts_x, pts_y, marker=markers[k % len(markers)], s=40, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOPs / minimal bytes)")
    ax.set_ylabel("achieved TFLOP/s")
    ax.set_title(f"Roofline, {raw['device']}: GRETA's kernels, one point per kernel and profile")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(f"{out_dir}/roofline_block.png", dpi=100)
    with open(f"{out_dir}/profile.md", "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
