#!/usr/bin/env python3
"""Turns bench_torch.py's raw.json into the benchmark table and a roofline.

  python3 bench/report.py RAW.json OUTDIR     writes OUTDIR/table.md and
                                              OUTDIR/roofline.png (matplotlib)
  python3 bench/report.py --selftest          checks the gemm7b section on made-up
                                              rows (run by tests/test_bench_report.c)

Floor of a row = max(bytes / measured copy bandwidth, FLOPs / measured cuBLAS
rate for the weights' dtype), where bytes are the fewest the step must move
(each input read once, each output written once) as greta lays the data out
(f32 activations; weights in their storage dtype; the KV cache in the
model's kv_dtype, which follows half weights: f16 rows have an f16 cache). "greta % of
floor" is floor / greta time: 100 % would be at the floor.

The whole-model rows (op "model", Llama-2-7B of examples/llama2_7b.gm) get a
section of their own, with the problem's floors for f16 weights and f16 KV
cache whatever dtypes a runner actually uses:
  bytes  = 2 B x (every matmul and norm weight + the LM head + T rows of the
           embedding) + 2 B x 2 (K, V) x 32 layers x 4096 x (pos read + T
           written) + T x vocab x 2 B (logits) + T x 4 B (token ids)
  FLOPs  = 2 x T x (matmul params + LM head) + 32 layers x 4 x 4096 x ctx,
           ctx = sum over the step's tokens of the keys each attends to
  byte floor = bytes / copy bandwidth, FLOP floor = FLOPs / cuBLAS f16 rate,
  both measured in the same run; GB/s = bytes / time; % of a floor = floor /
  time; tokens/s = T / time.

Issue 11's rows get a section each:
  gemm7b     c = x w^T at the 7B's projection shapes (w [N, K] f16), T x N x K:
             FLOPs = 2 T N K; TFLOP/s = FLOPs / time; % of peak = that rate
             over the cuBLAS f16 8192^3 rate of the same run. Byte floors for
             all-f16 operands (cuBLAS's) and for greta's f16 x and f32 c.
             greta's step (rms_scale storing x in f16, then the GEMM) and
             its GEMM launch alone (bench_greta --profile), which cuBLAS is
             compared with.
  attention  causal prefill attention, 32 heads x 128, T tokens at pos 0:
             FLOPs = 4 T (T / 2) head_dim heads (QK^T and PV over half the
             T x T scores; the exact count, T (T + 1) / 2 pairs, as
             bench_greta --profile reports, is 0.8 % more at T = 128);
             greta's step (two f16 cache appends from f32 K
             and V, then the attention) and its attention launch alone
             (bench_greta --profile), against SDPA's flash and cuDNN backends.
These rows are not drawn on the roofline.
"""
import json
import os
import sys

DIM, FFN, KV_DIM = 4096, 11008, 4096
MATMUL_PARAMS = 4 * DIM * DIM + 3 * DIM * FFN  # q, k, v, o + gate, up, down
N_LAYERS, VOCAB, MAX_SEQ = 32, 32000, 2048  # examples/llama2_7b.gm


def md_head(head):
    """A markdown table's header and separator lines."""
    return ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]


def md_row(cells):
    return "| " + " | ".join(cells) + " |"


def work(row):
    """(bytes, flops, config text) of one row's step."""
    op, t, pos = row["op"], row["tokens"], row["pos"]
    if op == "gemm":
        return (2 * t * 512 + 512 * 512) * 4, 2 * t * 512 * 512, f"{t}x512x512 f32 (c = a b^T)"
    if op == "rmsnorm":
        return (2 * t * DIM + DIM) * 4, 4 * t * DIM, f"{t}x{DIM} f32 = {t * DIM} elements"
    if op == "rope":
        return 2 * t * DIM * 4, 6 * t * DIM, f"T={t}, 32 heads x 128, pos {pos}"
    if op == "kv":
        return 4 * t * KV_DIM * 4, 0, f"{t} token, K and V, 32x128 f32, max_seq 2048"
    wsize = 4 if row["dtype"] == "f32" else 2
    weights = MATMUL_PARAMS * wsize + 2 * DIM * 4
    # write T rows of K and V, read the pos before; the cache dtype follows half weights
    kv = (2 * t + 2 * pos) * KV_DIM * wsize
    bytes_ = weights + kv + 2 * t * DIM * 4
    ctx = sum(pos + i + 1 for i in range(t))
    flops = 2 * t * MATMUL_PARAMS + 4 * DIM * ctx
    kind = f"decode T=1 at L={pos}" if t == 1 else f"prefill T={t} at pos {pos}"
    return bytes_, flops, f"{row['dtype']} weights, {kind}"


VARIANTS = [
    ("torch_same_ms", "same buffers"),
    ("torch_rotating_ms", "rotating inputs"),
    ("torch_slice_same_ms", "slice assignment"),
    ("torch_eager_ms", "eager"),
    ("torch_graph_ms", "CUDA graph"),
    ("torch_compile_ms", "torch.compile"),
]


def build(raw):
    c = raw["ceilings"]
    lines, points, notes = [], [], []
    for row in raw["rows"]:
        if row["op"] in ("model", "gemm7b", "attention"):  # sections of their own
            continue
        bytes_, flops, config = work(row)
        peak = c["peak_f16_flops"] if row.get("dtype") == "f16" else c["peak_f32_flops"]
        t_bw, t_fl = bytes_ / c["bandwidth_Bps"] * 1e3, flops / peak * 1e3
        floor = max(t_bw, t_fl)
        bound = "bytes" if t_bw >= t_fl else "FLOPs"
        g = row.get("greta", {})
        gms = g.get("median_ms")
        if gms is None:
            notes.append(f"{row['name']}: greta failed: {g.get('greta_error', 'not run')}")
        torch = row.get("torch", {})
        if "torch_error" in row:
            notes.append(f"{row['name']}: torch failed: {row['torch_error']}")
        if "compile_error" in torch:
            notes.append(f"{row['name']}: torch.compile not timed: {torch['compile_error'][:300]}")
        variants = [(label, torch[k]) for k, label in VARIANTS if k in torch]
        if not variants:
            variants = [("-", None)]
        for label, tms in variants:
            ratio = f"{gms / tms:.2f}" if gms and tms else "-"
            lines.append([row["op"] if row["op"] != "block" else "llama2 block", config,
                          f"{gms:.4f}" if gms else "-", f"{tms:.4f}" if tms else "-", label, ratio,
                          f"{floor:.3g} ({bound})", f"{100 * floor / gms:.1f}" if gms else "-"])
        if gms:
            points.append((row["name"], "greta", flops, bytes_, gms, row.get("dtype")))
        best = min((t for _, t in variants if t), default=None)
        if best:
            points.append((row["name"], "torch", flops, bytes_, best, row.get("dtype")))
    return lines, points, notes


def model_work(row):
    """(bytes, flops) of one step of the whole 7B model, f16 weights and KV
    (the module docstring has the formulas)."""
    t, pos = row["tokens"], row["pos"]
    weights = N_LAYERS * (MATMUL_PARAMS + 2 * DIM) + DIM + VOCAB * DIM + t * DIM
    kv = 2 * 2 * N_LAYERS * KV_DIM * (pos + t)
    bytes_ = 2 * weights + kv + 2 * t * VOCAB + 4 * t
    ctx = sum(pos + i + 1 for i in range(t))
    flops = 2 * t * (N_LAYERS * MATMUL_PARAMS + VOCAB * DIM) + N_LAYERS * 4 * DIM * ctx
    return bytes_, flops


# (raw.json key, label, runs on decode rows too): torch.compile is tried on
# the prefill rows only (bench_torch.py's MODEL_COMPILE_ROWS).
MODEL_RUNNERS = [
    ("torch_graph_sdpa_ms", "torch, CUDA graph, sdpa", True),
    ("torch_graph_eager_ms", "torch, CUDA graph, eager attention", True),
    ("torch_eager_sdpa_ms", "torch eager (no graph), sdpa", True),
    ("torch_compile_ms", "torch.compile (default mode), sdpa", False),
]


def greta_kv_dtype(g):
    """The KV cache's element type greta ran with, from its cache's bytes."""
    per = g.get("kv_cache_bytes", 0) / (2 * N_LAYERS * MAX_SEQ * KV_DIM)
    return {2: "f16", 4: "f32"}.get(per, f"{per:g} B/elem")


def model_section(raw, points, notes):
    """table.md's whole-model section: a line per (step, runner)."""
    c = raw["ceilings"]
    rows = [r for r in raw["rows"] if r["op"] == "model"]
    if not rows:
        return []
    head = ["step", "runner", "ms", "tokens/s", "GB/s", "% of byte floor", "% of FLOP floor",
            "greta / runner"]
    out = ["", "### Whole model: Llama-2-7B (examples/llama2_7b.gm), f16 weights, f16 KV cache", "",
           "One step of the whole model (embedding, 32 blocks, final norm, LM head over every "
           "token of the step), random weights. Decode: T = 1 with L tokens already cached, ms "
           "per token; prefill: T tokens at pos 0, ms per step (greta's T = 2048 on the model "
           "compiled with --max-tokens=2048). Floors are the f16 problem's "
           "(bench/report.py says how they are counted), from this run's copy bandwidth and "
           "cuBLAS f16 rate. greta / runner > 1: greta is slower.", "",
           *md_head(head)]
    for row in rows:
        bytes_, flops = model_work(row)
        t_bw = bytes_ / c["bandwidth_Bps"] * 1e3
        t_fl = flops / c["peak_f16_flops"] * 1e3
        t, pos = row["tokens"], row["pos"]
        step = (f"decode L={pos}" if t == 1 else f"prefill T={t} at pos {pos}") + \
            f": floors {t_bw:.3f} ms (bytes, {bytes_ / 1e9:.2f} GB), {t_fl:.3f} ms (FLOPs)"
        g = row.get("greta", {})
        gms = g.get("median_ms")
        if gms is None:
            notes.append(f"{row['name']}: greta failed: {g.get('greta_error', 'not run')}")
        if "torch_error" in row:
            notes.append(f"{row['name']}: torch failed: {row['torch_error']}")
        torch = row.get("torch", {})
        for attention in ("sdpa", "eager"):
            if f"{attention}_error" in torch:
                notes.append(f"{row['name']}: torch with {attention} attention failed: "
                             f"{torch[attention + '_error'][:300]}")
        if "compile_error" in torch:
            notes.append(f"{row['name']}: torch.compile not timed: {torch['compile_error'][:300]}")
        runners = [(f"greta (KV {greta_kv_dtype(g)})" if gms else "greta", gms)]
        runners += [(label, torch.get(k)) for k, label, decode in MODEL_RUNNERS if decode or t > 1]
        for label, ms in runners:
            cells = [step, label]
            if ms:
                cells += [f"{ms:.3f}", f"{t * 1e3 / ms:.1f}", f"{bytes_ / (ms * 1e-3) / 1e9:.0f}",
                          f"{100 * t_bw / ms:.1f}", f"{100 * t_fl / ms:.1f}",
                          "-" if label.startswith("greta") or not gms else f"{gms / ms:.2f}"]
            else:
                cells += ["-"] * 6
            out.append(md_row(cells))
            step = ""
        if gms:
            points.append((row["name"], "greta", flops, bytes_, gms, "f16"))
        best = min((ms for _, ms in runners[1:] if ms), default=None)
        if best:
            points.append((row["name"], "torch", flops, bytes_, best, "f16"))
    return out


def row_failures(row, notes):
    """Adds a row's greta and torch failures to notes; greta's ms or None."""
    g = row.get("greta", {})
    gms = g.get("median_ms")
    if gms is None:
        notes.append(f"{row['name']}: greta failed: {g.get('greta_error', 'not run')}")
    if "torch_error" in row:
        notes.append(f"{row['name']}: torch failed: {row['torch_error']}")
    return gms


def rate_cells(ms, flops, peak, greta_ms):
    """ms, TFLOP/s, % of the cuBLAS f16 peak, greta / runner (greta_ms: None
    on greta's own lines)."""
    if not ms:
        return ["-"] * 4
    rate = flops / (ms * 1e-3)
    ratio = f"{greta_ms / ms:.2f}" if greta_ms else "-"
    return [f"{ms:.4f}", f"{rate / 1e12:.1f}", f"{100 * rate / peak:.1f}", ratio]


GEMM_RUNNERS = [
    ("torch_rotating_ms", "cuBLAS f16, rotating"),
    ("torch_same_ms", "cuBLAS f16, same buffers"),
    ("torch_f32reduce_rotating_ms", "cuBLAS f16, rotating, no f16 split-K reduction"),
    ("torch_f32out_rotating_ms", "cuBLAS f16 x and w, f32 c (greta's bytes), rotating"),
    ("torch_f32out_graph_ms", "cuBLAS, f32 c, same buffers, a one-kernel graph (as greta's launch)"),
]


def gemm_section(raw, notes):
    """table.md's section of the 7B projection GEMMs against cuBLAS."""
    c = raw["ceilings"]
    rows = [r for r in raw["rows"] if r["op"] == "gemm7b"]
    if not rows:
        return []
    peak = c["peak_f16_flops"]
    head = ["GEMM", "runner", "ms", "TFLOP/s", "% of cuBLAS f16 peak", "greta / runner"]
    out = ["", "### GEMMs at the Llama-2-7B projection shapes, f16 weights (issue 11)", "",
           "c = x w^T, w [N, K] f16 stored as in a checkpoint, T tokens: q/k/v stacked "
           "(N = 12288, K = 4096), o (4096 x 4096), gate/up stacked (N = 22016, K = 4096), down "
           "(N = 4096, K = 11008). cuBLAS is torch.matmul on f16 x, w and c (f32 accumulation; "
           "torch's default lets it add split-K partial sums in f16, the last variant forbids "
           "that). greta's step is rms_scale, which stores x / rms(x) in f16 as in the block, "
           "and the GEMM (its x f16, its c f32, so it writes more bytes); the GEMM's launch "
           "alone (bench_greta --profile, a one-kernel graph over the same buffers, like "
           "cuBLAS's same-buffer line: o's 32 MiB weight then sits in L2, the others' do not "
           "fit) is what cuBLAS is compared with; the last cuBLAS line times it the same way (one "
           "call captured in a CUDA graph, replayed over one buffer set). % of peak is "
           f"against this run's cuBLAS f16 8192^3 rate, {peak / 1e12:.1f} TFLOP/s. greta / "
           "runner: greta's GEMM launch over the runner's time; > 1: greta is slower.", "",
           *md_head(head)]
    for row in rows:
        t, n, k = row["tokens"], row["n"], row["k"]
        flops = 2 * t * n * k
        bytes_f16 = 2 * (t * k + n * k + t * n)
        bytes_greta = 2 * t * k + 2 * n * k + 4 * t * n
        bw = c["bandwidth_Bps"]
        gemm = (f"{row['shape']} T={t} ({t}x{n}x{k}): floors {bytes_f16 / bw * 1e3:.4f} ms "
                f"(bytes, f16; {bytes_greta / bw * 1e3:.4f} ms with f32 c), "
                f"{flops / peak * 1e3:.4f} ms (FLOPs)")
        gms = row_failures(row, notes)
        launches = row.get("greta", {}).get("launches", [])
        alone = [l["median_ms"] for l in launches if l.get("op") == "matmul"]
        if gms and len(alone) != 1:
            notes.append(f"{row['name']}: greta's profile has {len(alone)} matmul launches: "
                         + ", ".join(f"{l['op']} {l['median_ms']:.4f} ms" for l in launches))
        mms = alone[0] if len(alone) == 1 else None
        torch = row.get("torch", {})
        if "torch_f32out_error" in torch:
            notes.append(f"{row['name']}: cuBLAS with f32 c: {torch['torch_f32out_error']}")
        runners = [("greta, step (rms_scale + GEMM)", gms, None),
                   ("greta, GEMM launch alone", mms, None)]
        runners += [(label, torch.get(key), mms) for key, label in GEMM_RUNNERS]
        for label, ms, ref in runners:
            cells = [gemm, label] + rate_cells(ms, flops, peak, ref)
            out.append(md_row(cells))
            gemm = ""
    return out


def attention_section(raw, notes):
    """table.md's section of causal prefill attention alone against SDPA."""
    c = raw["ceilings"]
    rows = [r for r in raw["rows"] if r["op"] == "attention"]
    if not rows:
        return []
    peak = c["peak_f16_flops"]
    head = ["step", "runner", "ms", "TFLOP/s", "% of cuBLAS f16 peak", "greta / runner"]
    out = ["", "### Causal prefill attention alone, 32 heads x 128, f16 K and V (issue 11)", "",
           "T tokens at pos 0. FLOPs = 4 T (T/2) head_dim heads. greta's step is two cache "
           "appends (f32 K and V rounded to f16) and the attention (f32 q and output, f16 K and "
           "V); its attention launch alone is from bench_greta --profile (each launch timed as "
           "a one-kernel graph). SDPA: torch.nn.functional.scaled_dot_product_attention("
           "is_causal=True) on f16 q, k, v, with the flash backend (FlashAttention 2) and with "
           "cuDNN's (what torch.compile's whole model runs at T = 2048). "
           "% of peak is against this run's "
           f"cuBLAS f16 8192^3 rate, {peak / 1e12:.1f} TFLOP/s. greta / runner: greta's "
           "attention launch alone over SDPA's time; > 1: greta is slower.", "",
           *md_head(head)]
    for row in rows:
        t = row["tokens"]
        flops = 4 * t * (t / 2) * row.get("head_dim", 128) * row.get("heads", 32)
        gms = row_failures(row, notes)
        launches = row.get("greta", {}).get("launches", [])
        alone = [l["median_ms"] for l in launches if l.get("op") == "attention"]
        if gms and not alone:
            notes.append(f"{row['name']}: greta's profile has no attention launch")
        ams = sum(alone) if alone else None
        sdpa = row.get("torch", {}).get("torch_sdpa_flash_ms")
        cudnn = row.get("torch", {}).get("torch_sdpa_cudnn_ms")
        if "torch_sdpa_cudnn_error" in row.get("torch", {}):
            notes.append(f"{row['name']}: SDPA cuDNN: {row['torch']['torch_sdpa_cudnn_error']}")
        step = f"prefill T={t}: {flops / 1e9:.1f} GFLOP, floor {flops / peak * 1e3:.4f} ms"
        # The ratios are of greta's attention launch (what SDPA computes).
        runners = [("greta, step (appends + attention)", gms, None),
                   ("greta, attention launch alone", ams, None),
                   ("SDPA flash", sdpa, ams)]
        torch_row = row.get("torch", {})
        if "torch_sdpa_cudnn_ms" in torch_row or "torch_sdpa_cudnn_error" in torch_row:
            runners.append(("SDPA cuDNN", cudnn, ams))  # runs before 2026-12-04 17:10 UTC: none
        for label, ms, ref in runners:
            cells = [step, label] + rate_cells(ms, flops, peak, ref)
            out.append(md_row(cells))
            step = ""
    return out


def table_md(raw, lines, notes, model_lines=()):
    c = raw["ceilings"]
    head = ["op", "config", "greta ms", "torch ms", "torch variant", "greta/torch",
            "floor ms (bound)", "greta % of floor"]
    out = [f"GPU: {raw['device']} ({raw.get('sm_count')} SMs, L2 {raw.get('l2_bytes')} B); "
           f"torch {raw['torch']} (CUDA {raw['cuda']}), transformers {raw['transformers']}; "
           f"{raw['date']}",
           f"Ceilings measured in this run: copy {c['bandwidth_Bps'] / 1e12:.2f} TB/s (read + write), "
           f"cuBLAS 8192^3 f32 (no TF32) {c['peak_f32_flops'] / 1e12:.1f} TFLOP/s, "
           f"f16 {c['peak_f16_flops'] / 1e12:.1f} TFLOP/s"]
    if lines:
        out += ["", *md_head(head)]
        out += [md_row(l) for l in lines]
    out += list(model_lines)
    if notes:
        out += [""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def roofline(raw, points, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    c = raw["ceilings"]
    bw = c["bandwidth_Bps"]
    fig, ax = plt.subplots(figsize=(9, 6))
    xs = [10 ** (k / 20) for k in range(-60, 101)]
    for peak, label, style in ((c["peak_f32_flops"], "f32 (no TF32)", "--"),
                               (c["peak_f16_flops"], "f16", "-")):
        ax.plot(xs, [min(peak, bw * x) / 1e12 for x in xs], style, color="gray",
                label=f"roof: {bw / 1e12:.2f} TB/s, cuBLAS {label} {peak / 1e12:.0f} TFLOP/s")
    colors = {"greta": "tab:red", "torch": "tab:blue"}
    for name, who, flops, bytes_, ms, dtype in points:
        if flops == 0:
            continue
        x, y = flops / bytes_, flops / (ms * 1e-3) / 1e12
        ax.scatter([x], [y], color=colors[who], marker="o" if who == "greta" else "s", s=30)
        if who == "greta":
            ax.annotate(name, (x, y), fontsize=7, xytext=(4, 2), textcoords="offset points")
    ax.scatter([], [], color="tab:red", marker="o", label="greta (libgreta, CUDA graph)")
    ax.scatter([], [], color="tab:blue", marker="s", label="PyTorch, best variant")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOPs / minimal bytes)")
    ax.set_ylabel("achieved TFLOP/s")
    ax.set_title(f"Roofline, {raw['device']}: the benchmark's rows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def selftest():
    """gemm_section on made-up rows: cuBLAS is compared with greta's matmul
    launch, not its step (which holds rms_scale too), and a profile without
    exactly one matmul launch leaves a note and no ratios."""
    def row(name, launches, torch_ms):
        return {"name": name, "op": "gemm7b", "tokens": 512, "n": 4096, "k": 4096,
                "shape": "o", "greta": {"median_ms": 0.030, "launches": launches},
                "torch": {"torch_rotating_ms": torch_ms}}
    raw = {"ceilings": {"peak_f16_flops": 770e12, "bandwidth_Bps": 4.2e12},
           "rows": [row("good", [{"op": "rms_scale", "median_ms": 0.005},
                                 {"op": "matmul", "median_ms": 0.024}], 0.020),
                    row("no_matmul", [{"op": "rms_scale", "median_ms": 0.005}], 0.020)]}
    notes = []
    cells = [[c.strip() for c in l.split("|")[1:-1]] for l in gemm_section(raw, notes)
             if l.startswith("| ") and not l.startswith(("| GEMM", "| ---"))]
    per_row = 2 + len(GEMM_RUNNERS)  # greta's step and launch, then cuBLAS's
    ratio = {(i // per_row, r[1]): r[5] for i, r in enumerate(cells)}
    checks = [
        (len(cells) == 2 * per_row, f"{per_row} runner lines a row, got {len(cells)} lines"),
        (ratio[(0, "cuBLAS f16, rotating")] == "1.20", "ratio of the matmul launch: 0.024 / 0.020"),
        (ratio[(0, "greta, GEMM launch alone")] == "-", "greta's own lines have no ratio"),
        (ratio[(1, "cuBLAS f16, rotating")] == "-", "no matmul launch: no ratio"),
        (len(notes) == 1 and "no_matmul" in notes[0] and "0 matmul launches" in notes[0],
         f"one note for the row without a matmul launch, got {notes}"),
    ]
    bad = [why for ok, why in checks if not ok]
    for why in bad:
        print(f"selftest: FAILED: {why}")
    if not bad:
        print("selftest: ok")
    return 1 if bad else 0


def main(argv):
    if argv == ["--selftest"]:
        return selftest()
    raw = json.load(open(argv[0]))
    out = argv[1] if len(argv) > 1 else "."
    lines, points, notes = build(raw)
    model_lines = gemm_section(raw, notes) + attention_section(raw, notes)
    model_lines += model_section(raw, points, notes)
    text = table_md(raw, lines, notes, model_lines)
    open(os.path.join(out, "table.md"), "w").write(text)
    print(text)
    try:
        roofline(raw, points, os.path.join(out, "roofline.png"))
    except ImportError as e:
        print(f"no roofline: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
