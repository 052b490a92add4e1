#!/usr/bin/env python3
"""Static throughput model of the MFMA kernels (GEMMs, attention) in a gfx942 code object.

No MI300X is needed: the model reads the disassembly of each kernel's inner
K loop (llvm-objdump-19 -d) and the kernel metadata (llvm-readelf-19 --notes),
and projects the fraction of MI300X's matrix peak the loop can reach.

    bench/gfx942_model.py block.hsaco            # markdown tables
    bench/gfx942_model.py block.hsaco --json     # the same facts, for machines
    bench/gfx942_model.py --selftest             # the loop finder on a fixed text
    bench/gfx942_model.py --maf-check            # against AMD's published MI300X GEMM figure

Per kernel whose code holds v_mfma_* instructions:
  1. The loop: the kernel's basic blocks (split at s_branch / s_cbranch_*
     and their targets) form a graph; a back edge u -> h (h dominates u:
     every path from the entry to u passes h) makes a natural loop, the blocks
     that reach u without passing h, merged per header h. clang enters its
     rotated K loops in the middle, so the backward s_cbranch in the code is
     often not the back edge; the graph finds the loop either way. Of the
     loops holding MFMAs the innermost are kept and the one with the most
     MFMAs is the K loop; an attention kernel's innermost loops are each a
     key loop of its own (all of them run). If the graph has none (an
     irreducible layout), each backward branch's target .. the last backward
     branch to it is taken as a loop instead. No loop holding MFMAs (fully
     unrolled) => the whole kernel is one "iteration".
  2. One iteration = every instruction of the loop's blocks, once (branches
     inside the loop that skip code are taken to fall through; for today's
     GEMM that is the steady state: loads of the next step, MFMAs, LDS stores,
     barrier).
  3. Per wave and iteration: MFMAs by opcode (cycles, flops), global bytes
     (global_/buffer_/flat_/scratch_ loads, stores and atomics: bytes per lane x
     64), LDS bytes (ds_read*/ds_write*/ds_read2* ...: bytes per lane x 64),
     VALU instructions (v_* that are not MFMAs, v_accvgpr_read/write included),
     s_waitcnt and s_barrier counts.
  4. Per CU and iteration, with every resident workgroup doing one iteration:
       t_mfma = MFMA cycles of the waves sharing the busiest SIMD
       t_valu = VALU instructions of those waves x 4 cycles (transcendentals
                x 16)
       t_lds  = LDS bytes of all the CU's waves / 128 B per clock
       t_l2   = global bytes of all the CU's waves / L2 bytes per clock per CU
     roofline iteration time = max(...) (perfect overlap), pessimistic = sum
     (no overlap). Projected % of peak = MFMA flops of the CU's waves /
     (iteration cycles x peak flops per CU per cycle of the MFMA's type).

Assumptions (also printed with the tables, see ASSUMPTIONS below):
  - MI300X: 304 CUs, 4 SIMDs per CU, wave64, peak engine clock 2.1 GHz
    (1307.4 TFLOP/s f16/bf16 = 304 x 2048 x 2.1e9; 163.4 f32 matrix =
    304 x 256 x 2.1e9). The % of peak is per clock: it holds at any clock, and
    the clock a dense MFMA load runs at is lower (see the published check in
    docs/benchmarks.md: hipBLASLt's 654 TFLOP/s f16 ran at 1115 MHz median).
  - MFMA cycles and flops per instruction: AMD's matrix instruction calculator
    for CDNA3 (the MFMA_TABLE below); peak per CU per clock = 4 SIMDs x the
    best flops/cycle of the type (f16/bf16 2048, f32 256, xf32 1024, f64 256,
    i8/fp8 4096).
  - Occupancy: .vgpr_count in gfx942 metadata is the unified total (arch VGPRs
    aligned to 4, plus AGPRs); waves per SIMD = min(8, 512 // round_up(vgpr, 8),
    800 // round_up(sgpr, 16)); workgroups per CU = min(waves allow, 64 KiB LDS
    // round_up(group_segment_fixed_size, 512)); a workgroup's waves spread over
    the 4 SIMDs. A per-CU limit on workgroups (as opposed to waves) is not
    applied.
  - LDS: 128 bytes per clock per CU, no bank conflicts.
  - Global: the loop's loads hit L2; L2 bandwidth per CU = 16 channels x
    128 B/clk per XCD shared by its 38 CUs = 53.9 B/clk/CU (CDNA 3 white paper's
    L2 description). HBM (5.3 TB/s = 8.3 B/clk/CU at 2.1 GHz) is not in the
    loop model (the operands are re-read from L2 by many tiles); per GEMM shape
    an HBM ceiling is given: x (f32) and the weights read once, out (f32)
    written once.
  - VALU: a wave64 VALU instruction occupies its SIMD for 4 cycles (16 lanes);
    MFMAs run in the matrix core alongside VALU work of the same or other waves
    (CDNA3 issues independent VALU while an MFMA executes), so t_mfma and
    t_valu overlap in the roofline; the issue slots the MFMAs themselves take
    are not charged. Transcendentals (v_exp, v_log, v_rcp, v_rsq, v_sqrt,
    v_sin, v_cos) run at a quarter of that rate, 16 cycles (LLVM's GCN
    scheduling model, SISchedule.td: WriteTrans32 4 passes against 1).
    SALU, s_waitcnt latency, barriers and memory latency are not modelled
    (counted only).
  - Tile quantisation for a GEMM shape M x N: tiles = ceil(M/BM) ceil(N/BN),
    rounds = ceil(tiles / (workgroups per CU x 304)), efficiency = tiles /
    (rounds x workgroups per CU x 304); "roofline x efficiency" charges a
    partly filled round in full. The per-round projection instead times each
    round with the workgroups its busiest CU really holds (a partial round
    spread evenly over the 304 CUs): an MFMA-bound CU holding 2 of 3 possible
    workgroups finishes in 2/3 of the time. The K tail and the prologue /
    epilogue outside the loop are ignored. BM x BN come from --tile, else
    GRETA_GEMM_BM / GRETA_GEMM_BN in templates/launch_constants.h.
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys

CUS = 304
SIMDS_PER_CU = 4
WAVE = 64
PEAK_CLOCK_GHZ = 2.1
LDS_BYTES_PER_CU = 65536
LDS_BYTES_PER_CLK = 128
LDS_GRANULE = 512  # gfx9 allocates LDS in blocks of 128 dwords
L2_CHANNELS_PER_XCD = 16
L2_BYTES_PER_CLK_PER_CHANNEL = 128
CUS_PER_XCD = 38
L2_BYTES_PER_CLK_PER_CU = L2_CHANNELS_PER_XCD * L2_BYTES_PER_CLK_PER_CHANNEL / CUS_PER_XCD
VALU_CYCLES = 4
TRANS_CYCLES = 16  # quarter rate
TRANS_RE = re.compile(r"^v_(exp|log|rcp|rcp_iflag|rsq|sqrt|sin|cos)(_legacy)?_f(16|32|64)(_e32|_e64)?$")
HBM_BYTES_PER_S = 5.3e12
VGPRS_PER_SIMD = 512
SGPRS_PER_SIMD = 800
MAX_WAVES_PER_SIMD = 8

# CDNA3 (gfx942) MFMA: normalised name -> (type, cycles, flops). Flops are
# 2 M N K x blocks; cycles are the instruction's passes x 4 from AMD's matrix
# instruction calculator (amd_matrix_instruction_calculator, --architecture cdna3).
MFMA_TABLE = {
    "f32_32x32x1_2b_f32": ("f32", 64, 4096),
    "f32_16x16x1_4b_f32": ("f32", 32, 2048),
    "f32_4x4x1_16b_f32": ("f32", 8, 512),
    "f32_32x32x2_f32": ("f32", 64, 4096),
    "f32_16x16x4_f32": ("f32", 32, 2048),
    "f32_32x32x4_2b_f16": ("f16", 64, 16384),
    "f32_16x16x4_4b_f16": ("f16", 32, 8192),
    "f32_4x4x4_16b_f16": ("f16", 8, 2048),
    "f32_32x32x8_f16": ("f16", 32, 16384),
    "f32_16x16x16_f16": ("f16", 16, 8192),
    "f32_32x32x4_2b_bf16": ("bf16", 64, 16384),
    "f32_16x16x4_4b_bf16": ("bf16", 32, 8192),
    "f32_4x4x4_16b_bf16": ("bf16", 8, 2048),
    "f32_32x32x8_bf16": ("bf16", 32, 16384),
    "f32_16x16x16_bf16": ("bf16", 16, 8192),
    "f32_32x32x4_xf32": ("xf32", 32, 8192),
    "f32_16x16x8_xf32": ("xf32", 16, 4096),
    "i32_32x32x16_i8": ("i8", 32, 32768),
    "i32_16x16x32_i8": ("i8", 16, 16384),
    "f64_16x16x4_f64": ("f64", 32, 2048),
    "f64_4x4x4_4b_f64": ("f64", 16, 512),
}
for _a in ("fp8", "bf8"):
    for _b in ("fp8", "bf8"):
        MFMA_TABLE["f32_32x32x16_%s_%s" % (_a, _b)] = ("fp8", 32, 32768)
        MFMA_TABLE["f32_16x16x32_%s_%s" % (_a, _b)] = ("fp8", 16, 16384)

# Peak flops per CU per clock by MFMA type: 4 SIMDs x the best rate of the type.
PEAK_PER_CU_CLK = {"f16": 2048, "bf16": 2048, "f32": 256, "xf32": 1024, "f64": 256,
                   "i8": 4096, "fp8": 4096}

# Causal prefill attention (T tokens at pos 0, H query heads): the 7B's.
DEFAULT_ATTENTION = [(512, 32), (2048, 32)]

# GEMM shapes (M, N, K) of the Llama-2-7B block's prefill at T = 512 and 2048.
DEFAULT_SHAPES = [(t, n, k) for t in (512, 2048)
                  for (n, k) in ((4096, 4096), (11008, 4096), (4096, 11008))]

ASSUMPTIONS = [
    "MI300X: %d CUs x %d SIMDs, wave64, peak engine clock %.1f GHz; %% of peak is per clock "
    "(f16/bf16 2048, f32 256 flop/clk/CU = 1307.4 / 163.4 TFLOP/s at 2.1 GHz)."
    % (CUS, SIMDS_PER_CU, PEAK_CLOCK_GHZ),
    "MFMA cycles/flops: AMD matrix instruction calculator, CDNA3 (e.g. 16x16x16 f16 16 cycles "
    "8192 flop, 16x16x4 f32 32 cycles 2048 flop).",
    "K loop = the innermost natural loop (dominator back edges) holding MFMAs; every instruction "
    "of its blocks executes once per iteration (skip-branches inside fall through).",
    "Occupancy: waves/SIMD = min(8, 512 // round8(vgpr_count incl. AGPRs), 800 // round16(sgpr)); "
    "workgroups/CU also <= 64 KiB // LDS (512-byte granules); a workgroup's waves spread over the 4 SIMDs.",
    "t_mfma = MFMA cycles of the waves on the busiest SIMD; t_valu = their VALU instructions x 4 "
    "cycles, transcendentals (v_exp, v_log, v_rcp, v_rsq, v_sqrt, v_sin, v_cos) x 16 (quarter "
    "rate) (MFMA and VALU co-issue, so they overlap in the roofline).",
    "Attention kernels: every innermost loop holding MFMAs is a key loop of its own (greta_attention_mfma: "
    "the tiles every query sees whole, then the diagonal tiles with the causal mask), one row each.",
    "t_lds = LDS bytes of the CU's waves / 128 B/clk (no bank conflicts).",
    "t_l2 = global bytes of the CU's waves / %.1f B/clk/CU (16 L2 channels x 128 B/clk per XCD "
    "of 38 CUs; loads hit L2; HBM only as a per-shape ceiling)." % L2_BYTES_PER_CLK_PER_CU,
    "Roofline = max of the four (perfect overlap); pessimistic = their sum (no overlap). "
    "Latency, barriers, s_waitcnt stalls and SALU are counted, not modelled.",
    "Causal attention at T tokens (pos 0), H heads: the key tiles each wave computes follow "
    "greta_attention_mfma's loops (a block's whole tiles, then its diagonal ones up to the wave's "
    "last row; GRETA_ATTN_MFMA_QUERIES rows a block, 32 a wave, GRETA_ATTN_MFMA_KEYS keys a tile); "
    "the 1216 SIMDs finish no sooner than the longest wave or the mean load, so share = "
    "wave-tiles / (1216 x max(longest, wave-tiles / 1216)); % peak = share x the key loops' "
    "roofline weighted by their tiles (key loop 1 the whole tiles, 2 the diagonal ones).",
    "Shapes: efficiency = tiles / (rounds x workgroups/CU x 304) (a partial round charged in "
    "full); projected % = the same model per round with the workgroups each CU really holds "
    "(a partial round spread evenly over the 304 CUs), K tail ignored; HBM ceiling = flops / "
    "(x f32 + weights + out f32 bytes at 5.3 TB/s) as % of peak at 2.1 GHz.",
]


# ---- disassembly -----------------------------------------------------------

FUNC_RE = re.compile(r"^([0-9a-fA-F]+) <([^>]+)>:\s*$")
INSN_RE = re.compile(r"^\s+([a-z_0-9]+)(.*?)\s*//\s*([0-9a-fA-F]+):((?:\s+[0-9A-Fa-f]{8})+)(?:\s*<([^>]*)>)?\s*$")
TARGET_RE = re.compile(r"^(.*)\+0x([0-9a-fA-F]+)$")


def parse_disassembly(text):
    """Returns {kernel: [(address, mnemonic, operands, target or None)]} from
    `llvm-objdump -d` text. Branch targets come from the <name+0xoff> the
    disassembler prints, else from the SOPP immediate (signed words after pc+4)."""
    funcs, cur, starts = {}, None, {}
    for line in text.splitlines():
        m = FUNC_RE.match(line)
        if m:
            cur = m.group(2)
            starts[cur] = int(m.group(1), 16)
            funcs[cur] = []
            continue
        m = INSN_RE.match(line)
        if not m or cur is None:
            continue
        mnem, ops, addr = m.group(1), m.group(2).strip(), int(m.group(3), 16)
        target = None
        if mnem == "s_branch" or mnem.startswith("s_cbranch_"):
            sym = m.group(5)
            t = TARGET_RE.match(sym) if sym else None
            if t and t.group(1) in starts:
                target = starts[t.group(1)] + int(t.group(2), 16)
            elif sym and sym in starts:
                target = starts[sym]
            else:
                imm = int(ops.split()[0], 0) & 0xFFFF
                target = addr + 4 + 4 * (imm - 0x10000 if imm & 0x8000 else imm)
        funcs[cur].append((addr, mnem, ops, target))
    return funcs


def is_mfma(mnem):
    return mnem.startswith("v_mfma_") or mnem.startswith("v_smfmac_")


def is_branch(mnem):
    return mnem == "s_branch" or mnem.startswith("s_cbranch_")


ENDS_WAVE = ("s_endpgm", "s_setpc_b64", "s_endpgm_saved")


def basic_blocks(insns):
    """Splits a kernel into basic blocks: [(first index, last index)] and,
    per block, its successor blocks."""
    addr_index = {a: i for i, (a, _, _, _) in enumerate(insns)}
    leaders = {0}
    for i, (a, m, _, t) in enumerate(insns):
        if is_branch(m) or m in ENDS_WAVE:
            if i + 1 < len(insns):
                leaders.add(i + 1)
            if t in addr_index:
                leaders.add(addr_index[t])
    starts = sorted(leaders)
    blocks = [(s, (starts[j + 1] - 1) if j + 1 < len(starts) else len(insns) - 1)
              for j, s in enumerate(starts)]
    block_of = {s: j for j, (s, _) in enumerate(blocks)}
    succ = []
    for j, (s, e) in enumerate(blocks):
        a, m, _, t = insns[e]
        out = []
        if is_branch(m) and t in addr_index:
            out.append(block_of[addr_index[t]])
        if m != "s_branch" and m not in ENDS_WAVE and j + 1 < len(blocks):
            out.append(j + 1)
        succ.append(out)
    return blocks, succ


def natural_loops(insns):
    """Loops of the control-flow graph: for every back edge u -> h (h
    dominates u) the blocks that reach u without passing h, merged per header.
    Returns [(header address, frozenset of instruction addresses)]. The
    header is where the loop is entered, which need not be the first
    address: clang often enters a rotated loop in its middle."""
    if not insns:
        return []
    blocks, succ = basic_blocks(insns)
    n = len(blocks)
    pred = [[] for _ in range(n)]
    for u, vs in enumerate(succ):
        for v in vs:
            pred[v].append(u)
    reach, stack = {0}, [0]
    while stack:
        for v in succ[stack.pop()]:
            if v not in reach:
                reach.add(v)
                stack.append(v)
    dom = {b: set(reach) for b in reach}
    dom[0] = {0}
    changed = True
    while changed:
        changed = False
        for b in sorted(reach - {0}):
            ps = [dom[p] for p in pred[b] if p in reach]
            new = set.intersection(*ps) | {b} if ps else {b}
            if new != dom[b]:
                dom[b], changed = new, True
    bodies = {}
    for u in reach:
        for h in succ[u]:
            if h in dom[u]:
                body, work = {h, u}, ([u] if u != h else [])
                while work:
                    x = work.pop()
                    for p in pred[x]:
                        if p in reach and p not in body:
                            body.add(p)
                            work.append(p)
                bodies.setdefault(h, set()).update(body)
    loops = []
    for h, body in sorted(bodies.items()):
        addrs = frozenset(insns[i][0] for b in body for i in range(blocks[b][0], blocks[b][1] + 1))
        loops.append((insns[blocks[h][0]][0], addrs))
    return loops


def range_loops(insns):
    """The fallback when the graph has no natural loop holding MFMAs (an
    irreducible layout): each backward branch's target to the last backward
    branch to it, as an address range."""
    ends = {}
    for addr, mnem, _, target in insns:
        if target is not None and target <= addr:
            ends[target] = max(ends.get(target, addr), addr)
    return [(h, frozenset(a for a, _, _, _ in insns if h <= a <= e)) for h, e in sorted(ends.items())]


def innermost_mfma_loops(insns):
    """The innermost loops holding MFMAs: [(header address, frozenset of
    their instruction addresses, MFMA count)], natural loops or, if the
    graph has none holding MFMAs, range loops."""
    mfma_addrs = {a for a, m, _, _ in insns if is_mfma(m)}
    for finder in (natural_loops, range_loops):
        cands = [(h, body, len(mfma_addrs & body)) for h, body in finder(insns)]
        cands = [c for c in cands if c[2]]
        inner = [c for c in cands if not any(o[1] < c[1] for o in cands)]
        if inner:
            return inner
    return []


def key_loops(insns):
    """Every innermost loop holding MFMAs, in address order (an attention
    kernel runs each: they are not alternatives like a GEMM's fast and
    fallback paths)."""
    return sorted(innermost_mfma_loops(insns), key=lambda c: min(c[1]))


def pick_k_loop(insns):
    """The innermost loop holding MFMAs, the one with the most if several,
    and of those the shortest (a kernel with a 16-byte-load path and an
    element-wise fallback for unaligned pointers has one K loop each; the
    model measures the fast one): (header address, frozenset of its
    instruction addresses, MFMA count), or None when no loop holds an MFMA
    (fully unrolled)."""
    inner = innermost_mfma_loops(insns)
    return max(inner, key=lambda c: (c[2], -len(c[1]), -c[0])) if inner else None


# ---- instruction classes ----------------------------------------------------

def mfma_key(mnem):
    """Normalises the spellings llvm has used (v_mfma_f32_16x16x16f16,
    v_mfma_f32_16x16x16_f16, v_mfma_f32_16x16x16bf16_1k, v_mfma_f32_32x32x1f32,
    v_mfma_f32_32x32x1_2b_f32) to MFMA_TABLE's keys."""
    name = mnem[len("v_"):]
    name = re.sub(r"_1k$", "", name)
    m = re.match(r"^(mfma|smfmac)_([fi]\d+)_(\d+)x(\d+)x(\d+)_?(.*)$", name)
    if not m:
        return None
    out, mm, nn, kk, rest = m.group(2), m.group(3), m.group(4), m.group(5), m.group(6)
    parts = [p for p in rest.split("_") if p]
    blocks = [p for p in parts if re.fullmatch(r"\d+b", p)]
    types = [p for p in parts if not re.fullmatch(r"\d+b", p)]
    key = "%s_%sx%sx%s" % (out, mm, nn, kk)
    # Old spellings of the multi-block f32/f16 forms carry no "_Nb": derive it.
    n_blocks = {("32", "1"): "2b", ("16", "1"): "4b", ("4", "1"): "16b",
                ("32", "4"): "2b", ("16", "4"): "4b", ("4", "4"): "16b"}
    if not blocks and types and types[0] in ("f32", "f16", "bf16") and (mm, kk) in n_blocks:
        if not (types[0] == "f32" and kk == "4") and not (types[0] != "f32" and kk == "1"):
            blocks = [n_blocks[(mm, kk)]]
    if mm == "4" and kk == "4" and types and types[0] == "f64":
        blocks = ["4b"]
    for b in blocks:
        key += "_" + b
    for t in types:
        key += "_" + t
    return key if key in MFMA_TABLE else None


GLOBAL_PREFIXES = ("global_", "buffer_", "flat_", "scratch_")
WIDTH_BYTES = [("dwordx4", 16), ("dwordx3", 12), ("dwordx2", 8), ("dword", 4),
               ("xyzw", 16), ("xyz", 12), ("xy", 8), ("_x", 4),
               ("short", 2), ("ushort", 2), ("sshort", 2), ("ubyte", 1), ("sbyte", 1), ("byte", 1),
               ("b128", 16), ("b96", 12), ("b64", 8), ("b32", 4), ("b16", 2), ("b8", 1)]


def global_bytes_per_lane(mnem):
    """Bytes per lane of a vector memory instruction, 0 for the non-memory ones."""
    if not mnem.startswith(GLOBAL_PREFIXES) or "_wb" in mnem or "_inv" in mnem or "wbl2" in mnem:
        return 0
    if "atomic" in mnem:
        return 8 if ("x2" in mnem or "_u64" in mnem or "_i64" in mnem or "_f64" in mnem
                     or "cmpswap" in mnem) else 4
    tail = mnem.split("_", 1)[1]
    d16 = "d16" in tail and "format" in tail
    for w, b in WIDTH_BYTES:
        if w in tail:
            return b // 2 if d16 and b >= 4 else b
    return 4


LDS_RE = re.compile(r"^ds_(read|write|load|store)(2st64|2)?_(?:addtid_)?([bui])(\d+)")


def lds_bytes_per_lane(mnem):
    """Bytes per lane an LDS instruction moves through the LDS pipe."""
    if not mnem.startswith("ds_") or mnem in ("ds_nop",) or mnem.startswith("ds_gws") \
            or mnem in ("ds_append", "ds_consume"):
        return 0
    m = LDS_RE.match(mnem)
    if m:
        n = int(m.group(4)) // 8
        return n * (2 if m.group(2) else 1)
    if "_tr" in mnem:
        return 8
    wide = any(s in mnem for s in ("_b64", "_u64", "_i64", "_f64"))
    n = 8 if wide else 4
    return 2 * n if re.match(r"^ds_\w+2(st64)?_", mnem) else n


def global_lds_direct(mnem, ops):
    """global_load_lds_* / buffer_load_* ... lds write LDS as well."""
    return "_lds_" in mnem or (mnem.startswith("buffer_load") and re.search(r"\blds\b", ops))


def count_insns(insns, addrs):
    c = {"mfma": {}, "global_load": 0, "global_store": 0, "lds_read": 0, "lds_write": 0,
         "valu": 0, "trans": 0, "acc_moves": 0, "salu": 0, "smem": 0, "waitcnt": 0, "barrier": 0,
         "instructions": 0, "unknown_mfma": []}
    for addr, mnem, ops, _ in insns:
        if addr not in addrs:
            continue
        c["instructions"] += 1
        if is_mfma(mnem):
            key = mfma_key(mnem)
            if key is None:
                c["unknown_mfma"].append(mnem)
                continue
            c["mfma"][key] = c["mfma"].get(key, 0) + 1
        elif mnem.startswith("v_"):
            c["valu"] += 1
            if TRANS_RE.match(mnem):
                c["trans"] += 1
            if mnem.startswith("v_accvgpr_"):
                c["acc_moves"] += 1
        elif mnem.startswith(GLOBAL_PREFIXES):
            b = global_bytes_per_lane(mnem) * WAVE
            if "store" in mnem:
                c["global_store"] += b
            else:
                c["global_load"] += b
            if global_lds_direct(mnem, ops):
                c["lds_write"] += b
        elif mnem.startswith("ds_"):
            b = lds_bytes_per_lane(mnem) * WAVE
            if "write" in mnem or "store" in mnem:
                c["lds_write"] += b
            else:
                c["lds_read"] += b
        elif mnem.startswith("s_waitcnt"):
            c["waitcnt"] += 1
        elif mnem == "s_barrier":
            c["barrier"] += 1
        elif mnem.startswith(("s_load", "s_buffer_load", "s_store", "s_dcache")):
            c["smem"] += 1
        elif mnem.startswith("s_"):
            c["salu"] += 1
    return c


# ---- metadata ----------------------------------------------------------------

META_KEYS = (".vgpr_count", ".agpr_count", ".sgpr_count", ".vgpr_spill_count", ".sgpr_spill_count",
             ".group_segment_fixed_size", ".private_segment_fixed_size", ".max_flat_workgroup_size")


def parse_notes(text):
    """{kernel: {key: int}} from llvm-readelf --notes' YAML of amdhsa.kernels:
    a kernel's keys sit at indentation 4 ("  - .key:" opens the next kernel)."""
    kernels, cur = [], None
    for line in text.splitlines():
        m = re.match(r"^  - (\.[a-z_]+):\s*(.*)$", line)
        if m:
            cur = {}
            kernels.append(cur)
        else:
            m = re.match(r"^    (\.[a-z_]+):\s*(.*)$", line)
        if not m or cur is None:
            continue
        key, val = m.group(1), m.group(2).strip()
        if key == ".name":
            cur["name"] = val.strip("'\"")
        elif key in META_KEYS and re.fullmatch(r"\d+", val):
            cur[key] = int(val)
    return {k["name"]: k for k in kernels if "name" in k}


def round_up(v, g):
    return (v + g - 1) // g * g


def occupancy(meta):
    vgpr = max(meta.get(".vgpr_count", 1), 1)
    sgpr = meta.get(".sgpr_count", 0)
    wg = meta.get(".max_flat_workgroup_size", 256) or 256
    lds = meta.get(".group_segment_fixed_size", 0)
    waves_per_wg = -(-wg // WAVE)
    per_simd = min(MAX_WAVES_PER_SIMD, VGPRS_PER_SIMD // round_up(vgpr, 8))
    if sgpr > 0:
        per_simd = min(per_simd, SGPRS_PER_SIMD // round_up(sgpr, 16))
    wg_per_cu = (per_simd * SIMDS_PER_CU) // waves_per_wg
    if lds > 0:
        wg_per_cu = min(wg_per_cu, LDS_BYTES_PER_CU // round_up(lds, LDS_GRANULE))
    return {"waves_per_wg": waves_per_wg, "waves_per_simd_by_regs": per_simd,
            "wg_per_cu": wg_per_cu,
            "waves_per_simd": -(-(wg_per_cu * waves_per_wg) // SIMDS_PER_CU)}


# ---- the model ------------------------------------------------------------------

def model_cu(per_wave, wg_per_cu, waves_per_wg):
    """Per-CU iteration times (cycles) and projected % of peak for
    `wg_per_cu` resident workgroups each doing one iteration. per_wave holds
    mfma {key: count}, global_bytes, lds_bytes, valu, trans (of valu)."""
    waves_cu = wg_per_cu * waves_per_wg
    waves_simd = -(-waves_cu // SIMDS_PER_CU)
    mfma_cycles = sum(n * MFMA_TABLE[k][1] for k, n in per_wave["mfma"].items())
    flops_wave = sum(n * MFMA_TABLE[k][2] for k, n in per_wave["mfma"].items())
    # The type that holds the most MFMA cycles sets the peak it is measured against.
    by_type = {}
    for k, n in per_wave["mfma"].items():
        by_type[MFMA_TABLE[k][0]] = by_type.get(MFMA_TABLE[k][0], 0) + n * MFMA_TABLE[k][1]
    dtype = max(by_type, key=by_type.get) if by_type else "f16"
    t = {"mfma": waves_simd * mfma_cycles,
         "valu": waves_simd * ((per_wave["valu"] - per_wave.get("trans", 0)) * VALU_CYCLES
                               + per_wave.get("trans", 0) * TRANS_CYCLES),
         "lds": waves_cu * per_wave["lds_bytes"] / LDS_BYTES_PER_CLK,
         "l2": waves_cu * per_wave["global_bytes"] / L2_BYTES_PER_CLK_PER_CU}
    roof = max(t.values())
    pess = sum(t.values())
    flops_cu = waves_cu * flops_wave
    peak = PEAK_PER_CU_CLK[dtype]
    return {"dtype": dtype, "waves_per_cu": waves_cu, "waves_per_simd": waves_simd,
            "cycles": t, "bound": max(t, key=t.get),
            "iteration_cycles_roofline": roof, "iteration_cycles_pessimistic": pess,
            "flops_per_cu_iteration": flops_cu, "peak_flops_per_cu_clk": peak,
            "pct_peak_roofline": 100.0 * flops_cu / (roof * peak) if roof else 0.0,
            "pct_peak_pessimistic": 100.0 * flops_cu / (pess * peak) if pess else 0.0}


def quantisation(shape, tile, wg_per_cu):
    m, n, _ = shape
    tiles = -(-m // tile[0]) * -(-n // tile[1])
    slots = wg_per_cu * CUS
    rounds = -(-tiles // slots) if slots else 0
    return {"tiles": tiles, "rounds": rounds,
            "efficiency": tiles / (rounds * slots) if rounds else 0.0}


def shape_projection(shape, tile, per_wave, occ, weight_bytes):
    """The K loop's model at a GEMM shape: full rounds of wg_per_cu
    workgroups per CU, then the last partial round with ceil(rest / 304) on
    the busiest CU (spread evenly), each round timed by model_cu with the
    workgroups it really holds, so a CU holding 2 of 3 possible MFMA-bound
    workgroups finishes in 2/3 of the time. Also the HBM ceiling: x (f32)
    read once, the weights once, out (f32) written once, at 5.3 TB/s."""
    m, n, k = shape
    q = quantisation(shape, tile, occ["wg_per_cu"])
    wpw, wg = occ["waves_per_wg"], occ["wg_per_cu"]
    full, rest = divmod(q["tiles"], wg * CUS)
    full_cu = model_cu(per_wave, wg, wpw)
    cycles = full * full_cu["iteration_cycles_roofline"]
    if rest:
        cycles += model_cu(per_wave, -(-rest // CUS), wpw)["iteration_cycles_roofline"]
    flops_wg = wpw * sum(c * MFMA_TABLE[key][2] for key, c in per_wave["mfma"].items())
    peak = full_cu["peak_flops_per_cu_clk"]
    pct = 100.0 * q["tiles"] * flops_wg / (cycles * CUS * peak) if cycles else 0.0
    hbm_bytes = m * k * 4 + n * k * weight_bytes + m * n * 4
    hbm_s = hbm_bytes / HBM_BYTES_PER_S
    hbm_pct = 100.0 * 2.0 * m * n * k / (hbm_s * CUS * peak * PEAK_CLOCK_GHZ * 1e9)
    q.update({"m": m, "n": n, "k": k,
              "pct_peak_brief_rule": full_cu["pct_peak_roofline"] * q["efficiency"],
              "pct_peak": pct, "hbm_ceiling_pct": hbm_pct})
    return q


def attention_tiles(t, heads, queries, keys, wave_rows):
    """greta_attention_mfma's key tiles at T = t, pos 0: (workgroups, the
    whole tiles and diagonal tiles all waves compute, the longest wave's
    tiles). A block of `queries` rows at t0 computes the tiles below t0 + 1
    whole, then j0 < min(t0 + queries, t) masked, a wave only those with
    j0 <= its last row; waves past t compute none."""
    blocks = -(-t // queries)
    whole = diag = longest = 0
    for b in range(blocks):
        t0 = b * queries
        hi = min(t0 + queries, t)
        whole_hi = (t0 + 1) // keys * keys
        for tw in range(t0, t0 + queries, wave_rows):
            if tw >= t:
                continue
            n_whole = whole_hi // keys
            n_diag = len([j0 for j0 in range(whole_hi, hi, keys) if j0 <= tw + wave_rows - 1])
            whole += n_whole
            diag += n_diag
            longest = max(longest, n_whole + n_diag)
    return heads * blocks, heads * whole, heads * diag, longest


def attention_projection(t, heads, loops, constants):
    """The causal prefill at T = t over the 1216 SIMDs (see ASSUMPTIONS);
    loops: the kernel's key-loop models in order (whole tiles, diagonal)."""
    queries = constants.get("GRETA_ATTN_MFMA_QUERIES", 128)
    keys = constants.get("GRETA_ATTN_MFMA_KEYS", 32)
    wgs, whole, diag, longest = attention_tiles(t, heads, queries, keys, 32)
    simds = CUS * SIMDS_PER_CU
    total = whole + diag
    share = total / (simds * max(longest, total / simds)) if total else 0.0
    pw = loops[0]["model"]["pct_peak_roofline"]
    pd = loops[-1]["model"]["pct_peak_roofline"]
    mix = (whole * pw + diag * pd) / total if total else 0.0
    return {"t": t, "heads": heads, "workgroups": wgs, "whole_tiles": whole, "diagonal_tiles": diag,
            "longest_wave_tiles": longest, "simd_share": share, "pct_peak": mix * share}


def kernel_tile(name, flops_per_iter, dtype, tile, tiles):
    """The (BM, BN) tile a GEMM kernel computes and where it came from. With
    tiles read from launch_constants.h (read_tiles), a greta_matmul kernel's
    tile is the one whose BM x BN x BK x 2 equals its flops per workgroup and
    K iteration (BK per weight type); otherwise `tile` (--tile or the
    default). Attention kernels get none (no GEMM shapes)."""
    if name.startswith("greta_attention"):
        return None, None
    bk = tiles.get("bk_" + ("f32" if dtype == "f32" else "f16"))
    for t in tiles.get("tiles", []):
        if bk and t[0] * t[1] * bk * 2 == flops_per_iter:
            return t, "inferred: 2 x %d x %d x BK %d = the kernel's flops per iteration" % (t[0], t[1], bk)
    return tile, None


def analyse(funcs, notes, tile, shapes, tiles=None, attention=(), constants=None):
    out = []
    for name, insns in funcs.items():
        if not any(is_mfma(m) for _, m, _, _ in insns):
            continue
        loops = key_loops(insns) if name.startswith("greta_attention") else []
        if not loops:
            loops = [pick_k_loop(insns)]
        mine = []
        for i, loop in enumerate(loops):
            k = analyse_loop(name, insns, loop, notes, tile, shapes, tiles)
            if len(loops) > 1:
                k["loop_of"] = [i + 1, len(loops)]
            mine.append(k)
        if name.startswith("greta_attention") and attention:
            mine[-1]["attention"] = [attention_projection(t, h, mine, constants or {})
                                     for t, h in attention]
        out.extend(mine)
    return out


def analyse_loop(name, insns, loop, notes, tile, shapes, tiles):
    """The model of one kernel's loop (None: the whole kernel, unrolled)."""
    if loop:
        body = loop[1]
    else:
        body = frozenset(a for a, _, _, _ in insns)
    c = count_insns(insns, body)
    meta = notes.get(name, {})
    occ = occupancy(meta)
    per_wave = {"mfma": c["mfma"], "global_bytes": c["global_load"] + c["global_store"],
                "lds_bytes": c["lds_read"] + c["lds_write"], "valu": c["valu"], "trans": c["trans"]}
    cu = model_cu(per_wave, occ["wg_per_cu"], occ["waves_per_wg"])
    wpw = occ["waves_per_wg"]
    k = {
        "kernel": name,
        "loop": None if not loop else {"header": "0x%x" % loop[0], "first": "0x%x" % min(body),
                                       "last": "0x%x" % max(body), "instructions": len(body)},
        "unrolled": not loop,
        "per_wave": {
            "mfma": [{"instruction": "v_mfma_" + key, "count": n, "cycles": MFMA_TABLE[key][1],
                      "flops": MFMA_TABLE[key][2]} for key, n in sorted(c["mfma"].items())],
            "mfma_count": sum(c["mfma"].values()),
            "mfma_cycles": sum(n * MFMA_TABLE[key][1] for key, n in c["mfma"].items()),
            "flops": sum(n * MFMA_TABLE[key][2] for key, n in c["mfma"].items()),
            "global_load_bytes": c["global_load"], "global_store_bytes": c["global_store"],
            "lds_read_bytes": c["lds_read"], "lds_write_bytes": c["lds_write"],
            "valu": c["valu"], "trans": c["trans"], "acc_moves": c["acc_moves"], "salu": c["salu"],
            "smem": c["smem"], "waitcnt": c["waitcnt"], "barrier": c["barrier"],
            "instructions": c["instructions"], "unknown_mfma": c["unknown_mfma"],
        },
        "per_workgroup": {
            "flops": wpw * sum(n * MFMA_TABLE[key][2] for key, n in c["mfma"].items()),
            "global_bytes": wpw * per_wave["global_bytes"],
            "lds_bytes": wpw * per_wave["lds_bytes"],
        },
        "meta": {"vgpr": meta.get(".vgpr_count"), "agpr": meta.get(".agpr_count"),
                 "sgpr": meta.get(".sgpr_count"), "lds": meta.get(".group_segment_fixed_size"),
                 "scratch": meta.get(".private_segment_fixed_size"),
                 "workgroup_size": meta.get(".max_flat_workgroup_size"),
                 "vgpr_spills": meta.get(".vgpr_spill_count"),
                 "sgpr_spills": meta.get(".sgpr_spill_count")},
        "occupancy": occ,
        "model": cu,
        "shapes": [],
    }
    weight_bytes = {"f32": 4, "xf32": 4, "f64": 8, "i8": 1, "fp8": 1}.get(cu["dtype"], 2)
    ktile, ksrc = kernel_tile(name, k["per_workgroup"]["flops"], cu["dtype"], tile,
                              tiles or {})
    k["tile"], k["tile_source"] = (list(ktile) if ktile else None), ksrc
    for s in shapes if ktile else []:
        k["shapes"].append(shape_projection(s, ktile, per_wave, occ, weight_bytes))
    return k


# ---- input, output ----------------------------------------------------------------

def read_constants(source_dir):
    """The integer #defines of templates/launch_constants.h ({} when unreadable)."""
    path = os.path.join(source_dir, "templates", "launch_constants.h")
    v = {}
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"^#define\s+(GRETA_\w+)\s+(\d+)\s*$", line)
                if m:
                    v[m.group(1)] = int(m.group(2))
    except OSError:
        pass
    return v


def read_tiles(constants):
    """greta_gemm_mfma's tiles and K steps: {"tiles": [(64 MB, 64 NB) small,
    large], "bk_f32": .., "bk_f16": ..} from launch_constants.h's values."""
    v = constants
    out = {"tiles": [(64 * v["GRETA_MFMA_%s_MB" % s], 64 * v["GRETA_MFMA_%s_NB" % s])
                     for s in ("SMALL", "BIG")
                     if "GRETA_MFMA_%s_MB" % s in v and "GRETA_MFMA_%s_NB" % s in v]}
    for key, name in (("bk_f32", "GRETA_MFMA_BK_F32"), ("bk_f16", "GRETA_MFMA_BK_F16")):
        if name in v:
            out[key] = v[name]
    return out


def read_tile(constants):
    """The default tile (greta_gemm's) for kernels whose tile is not inferred."""
    if "GRETA_GEMM_BM" in constants and "GRETA_GEMM_BN" in constants:
        return ((constants["GRETA_GEMM_BM"], constants["GRETA_GEMM_BN"]),
                "GRETA_GEMM_BM x GRETA_GEMM_BN, templates/launch_constants.h")
    return (64, 64), "default: templates/launch_constants.h not readable"


def run_tool(names, args):
    for n in names:
        exe = shutil.which(n)
        if exe:
            r = subprocess.run([exe] + args, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit("gfx942_model: %s %s failed (exit %d): %s"
                         % (n, " ".join(args), r.returncode, r.stderr.strip()))
            return r.stdout
    sys.exit("gfx942_model: none of %s found on PATH (scripts/bootstrap.sh installs llvm-19)"
             % ", ".join(names))


def fmt_mfma(k):
    return ", ".join("%s x%d" % (m["instruction"].replace("v_mfma_", ""), m["count"])
                     for m in k["per_wave"]["mfma"])


def group_identical(kernels):
    """Kernels whose modelled facts are all equal (the block's four GEMMs
    differ in N, K and a few scalar instructions) share one row: [(names, k)]."""
    groups = {}
    for k in kernels:
        pw = k["per_wave"]
        sig = json.dumps([k.get("loop_of"), k.get("attention"), pw["mfma"], pw["valu"], pw["trans"], pw["acc_moves"], pw["waitcnt"], pw["barrier"],
                          k["per_workgroup"], k["meta"]["vgpr"], k["meta"]["agpr"], k["meta"]["vgpr_spills"],
                          k["meta"]["sgpr_spills"], k["occupancy"], k["model"], k["shapes"]], sort_keys=True)
        groups.setdefault(sig, ([], k))[0].append(k["kernel"])
    return list(groups.values())


def label(names, k):
    """A row's kernels, and which of the kernel's key loops it is."""
    text = ", ".join(names)
    if k.get("loop_of"):
        text += " (key loop %d of %d)" % tuple(k["loop_of"])
    return text


def md_table(title, header, rows):
    """A titled markdown table as lines, a blank line before and after the title."""
    out = ["", title, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]


def markdown(kernels, tile, tile_src, source):
    groups = group_identical(kernels)
    lines = ["gfx942 static throughput model: %s" % source, ""]
    lines.append("| kernel | K loop (header: first-last) | MFMA x count per wave per iteration | flops/iter (WG) "
                 "| global B/iter (WG) | LDS B/iter (WG) | VALU/iter (wave) | VGPR/AGPR | waves/SIMD "
                 "| spills | bound | % peak roofline | % peak pessimistic |")
    lines.append("|" + "---|" * 13)
    for names, k in groups:
        m, pw, pg, cu = k["meta"], k["per_wave"], k["per_workgroup"], k["model"]
        spills = "%s/%s" % (m["vgpr_spills"], m["sgpr_spills"])
        loop = "none (unrolled)" if k["unrolled"] else "%s: %s-%s" % (
            k["loop"]["header"], k["loop"]["first"], k["loop"]["last"])
        if len(names) > 1:
            loop += " (first kernel's)"
        lines.append("| %s | %s | %s | %d | %d | %d | %d (%d trans., %d acc moves) | %s/%s | %d | %s | %s | %.1f | %.1f |" % (
            label(names, k), loop, fmt_mfma(k), pg["flops"], pg["global_bytes"], pg["lds_bytes"],
            pw["valu"], pw["trans"], pw["acc_moves"], m["vgpr"], m["agpr"], cu["waves_per_simd"], spills,
            cu["bound"], cu["pct_peak_roofline"], cu["pct_peak_pessimistic"]))
    for names, k in groups:
        if k["per_wave"]["unknown_mfma"]:
            lines.append("")
            lines.append("WARNING: %s: MFMAs missing from MFMA_TABLE, not counted: %s" % (
                ", ".join(names), ", ".join(sorted(set(k["per_wave"]["unknown_mfma"])))))
    lines.append("")
    lines.append("Per-CU cycles per iteration, every resident workgroup doing one:")
    lines.append("")
    lines.append("| kernel | WG/CU | t_mfma | t_valu | t_lds | t_l2 | s_waitcnt/iter | s_barrier/iter "
                 "| peak flop/clk/CU |")
    lines.append("|" + "---|" * 9)
    for names, k in groups:
        t = k["model"]["cycles"]
        lines.append("| %s | %d | %.0f | %.0f | %.0f | %.0f | %d | %d | %d (%s) |" % (
            label(names, k), k["occupancy"]["wg_per_cu"], t["mfma"], t["valu"], t["lds"], t["l2"],
            k["per_wave"]["waitcnt"], k["per_wave"]["barrier"], k["model"]["peak_flops_per_cu_clk"],
            k["model"]["dtype"]))
    for names, k in groups:
        if not k["shapes"]:
            continue
        kt = k.get("tile") or tile
        lines += md_table("GEMM shapes, %s, tile %dx%d (%s):" % (", ".join(names), kt[0], kt[1],
                                                                 k.get("tile_source") or tile_src),
                          ["M x N x K", "tiles", "rounds", "efficiency", "% peak: roofline x efficiency",
                           "% peak: per-round model", "HBM ceiling %"],
                          [["%dx%dx%d" % (q["m"], q["n"], q["k"]), q["tiles"], q["rounds"],
                            "%.2f" % q["efficiency"], "%.1f" % q["pct_peak_brief_rule"],
                            "%.1f" % q["pct_peak"], "%.0f" % q["hbm_ceiling_pct"]] for q in k["shapes"]])
    for names, k in groups:
        if not k.get("attention"):
            continue
        lines += md_table("Causal prefill at pos 0, %s (wave-tiles: key tiles summed over all waves):"
                          % ", ".join(names),
                          ["T", "heads", "workgroups", "whole / diagonal wave-tiles", "longest wave (tiles)",
                           "share of the 1216 SIMDs", "% peak"],
                          [[a["t"], a["heads"], a["workgroups"], "%d / %d" % (a["whole_tiles"], a["diagonal_tiles"]),
                            a["longest_wave_tiles"], "%.3f" % a["simd_share"], "%.1f" % a["pct_peak"]]
                           for a in k["attention"]])
    lines.append("")
    lines.append("Assumptions:")
    for a in ASSUMPTIONS:
        lines.append("- " + a)
    return "\n".join(lines)


SELFTEST_TEXT = """
0000000000001000 <k>:
	s_load_dwordx2 s[0:1], s[0:1], 0x0                         // 000000001000: C0060000 00000000
	s_branch 2                                                 // 000000001008: BF820002 <k+0x14>
	s_add_u32 s2, s2, 64                                       // 00000000100C: 8002C002
	s_barrier                                                  // 000000001010: BF8A0000
	global_load_dwordx4 v[4:7], v[0:1], off                    // 000000001014: DC5C8000 047F0000
	ds_read2_b64 v[8:11], v2 offset1:4                         // 00000000101C: D8EE0400 08000002
	ds_read_b128 v[12:15], v2                                  // 000000001024: D9FE0000 0C000002
	v_mfma_f32_16x16x16_f16 a[0:3], v[8:9], v[10:11], a[0:3]   // 00000000102C: D3CD8000 04021508
	v_mfma_f32_16x16x16f16 a[4:7], v[12:13], v[14:15], a[4:7]  // 000000001034: D3CD8004 04121D0C
	v_add_u32_e32 v2, 64, v2                                   // 00000000103C: 680404C0
	s_cbranch_scc1 65532                                       // 000000001040: BF85FFFC
	v_mfma_f32_16x16x4_f32 a[0:3], v1, v2, a[0:3]              // 000000001044: D3C58000 04020501
	s_cbranch_vccnz 65519                                      // 00000000104C: BF87FFEF <k+0xc>
	ds_write_b16 v3, v4                                        // 000000001050: D83E0000 00000403
	s_branch 65516                                             // 000000001058: BF82FFEC <k+0xc>
	v_mfma_f32_32x32x8bf16_1k a[0:15], v[0:1], v[2:3], a[0:15] // 00000000105C: D3EE8000 04020500
	s_endpgm                                                   // 000000001064: BF810000
"""


def selftest():
    """The loop finder and counters on SELFTEST_TEXT, whose answers are known
    by hand. Blocks: B0 0x1000-0x1008 (jumps into the loop at 0x1014), B1
    0x100c-0x1010, B2 0x1014-0x102c, B3 0x1034-0x1040 (s_cbranch_scc1 with no
    printed target: -4 words from 0x1044, i.e. back to 0x1034), B4
    0x1044-0x104c, B5 0x1050-0x1058, B6 0x105c-0x1064 (unreachable). 0x1014
    dominates everything after it, so the fall-through B1 -> B2 is the outer
    loop's back edge: header 0x1014, body B1-B5, 3 MFMAs; B3 -> B3 is the
    inner loop, 1 MFMA, and being innermost it is the K loop. Returns a list
    of failures."""
    fails = []
    funcs = parse_disassembly(SELFTEST_TEXT)
    insns = funcs.get("k", [])

    def check(what, got, want):
        if got != want:
            fails.append("%s: got %r, expected %r" % (what, got, want))

    outer = frozenset([0x100C, 0x1010, 0x1014, 0x101C, 0x1024, 0x102C, 0x1034, 0x103C, 0x1040,
                       0x1044, 0x104C, 0x1050, 0x1058])
    inner = frozenset([0x1034, 0x103C, 0x1040])
    check("instructions parsed", len(insns), 17)
    check("branch target from the immediate", insns[10][3], 0x1034)
    check("branch target from the symbol", insns[12][3], 0x100C)
    check("natural loops", natural_loops(insns), [(0x1014, outer), (0x1034, inner)])
    check("k loop", pick_k_loop(insns), (0x1034, inner, 1))
    check("key loops (innermost with MFMAs)", key_loops(insns), [(0x1034, inner, 1)])
    c = count_insns(insns, outer)
    check("outer mfma", c["mfma"], {"f32_16x16x16_f16": 2, "f32_16x16x4_f32": 1})
    check("outer global bytes", c["global_load"], 16 * 64)
    check("outer lds read bytes", c["lds_read"], (16 + 16) * 64)
    check("outer lds write bytes", c["lds_write"], 2 * 64)
    check("outer barriers", c["barrier"], 1)
    check("outer valu", c["valu"], 1)
    # Transcendentals are VALU at a quarter of the rate: one v_exp and one
    # v_add on one wave take 16 + 4 cycles.
    two = [(0x0, "v_exp_f32_e32", " v1, v2", None), (0x4, "v_add_f32_e32", " v1, v1, v3", None)]
    c2 = count_insns(two, {0x0, 0x4})
    check("valu with a transcendental", (c2["valu"], c2["trans"]), (2, 1))
    check("transcendental cycles", model_cu({"mfma": {}, "global_bytes": 0, "lds_bytes": 0, "valu": 2,
                                             "trans": 1}, 1, 1)["cycles"]["valu"], 20)
    # The causal attention's tiles at T = 512, 32 heads, blocks of 128 rows,
    # waves of 32, tiles of 32: wave i (rows 32 i ..) computes i + 1 tiles,
    # 4 (i // 4) of them whole; per head 16 waves: 1 + .. + 16 = 136 tiles,
    # whole 4 x (0 + 4 + 8 + 12) = 96, diagonal 40; 4 blocks a head.
    check("attention tiles", attention_tiles(512, 32, 128, 32, 32), (128, 96 * 32, 40 * 32, 16))
    check("attention tiles past T", attention_tiles(40, 1, 128, 32, 32), (1, 0, 3, 2))
    check("not transcendental", [bool(TRANS_RE.match(m)) for m in
                                 ("v_exp_f32_e32", "v_rcp_iflag_f32_e32", "v_sqrt_f64_e64",
                                  "v_exp_legacy_f32_e32", "v_cvt_f16_f32_e32", "v_ldexp_f32")],
          [True, True, True, True, False, False])
    # An inner loop without MFMAs does not count: drop its MFMA and the outer
    # loop (MFMAs at 0x102c and 0x1044) is the K loop.
    no_inner = [i for i in insns if i[0] != 0x1034]
    got = pick_k_loop(no_inner)
    check("k loop without inner mfma", got and (got[0], got[2]), (0x1014, 2))
    # No loop at all: the kernel is unrolled.
    check("no loop", pick_k_loop([i for i in insns if i[3] is None]), None)
    check("bf16_1k name", mfma_key("v_mfma_f32_32x32x8bf16_1k"), "f32_32x32x8_bf16")
    check("old f32 name", mfma_key("v_mfma_f32_16x16x4f32"), "f32_16x16x4_f32")
    check("old f16 name", mfma_key("v_mfma_f32_16x16x16f16"), "f32_16x16x16_f16")
    check("multi-block name", mfma_key("v_mfma_f32_32x32x1f32"), "f32_32x32x1_2b_f32")
    check("multi-block new name", mfma_key("v_mfma_f32_32x32x4_2b_f16"), "f32_32x32x4_2b_f16")
    check("xf32 name", mfma_key("v_mfma_f32_16x16x8_xf32"), "f32_16x16x8_xf32")
    check("fp8 name", mfma_key("v_mfma_f32_16x16x32_fp8_bf8"), "f32_16x16x32_fp8_bf8")
    check("lds read2st64", lds_bytes_per_lane("ds_read2st64_b32"), 8)
    check("lds u16", lds_bytes_per_lane("ds_read_u16_d16_hi"), 2)
    check("lds write2 b64", lds_bytes_per_lane("ds_write2_b64"), 16)
    check("global ushort", global_bytes_per_lane("global_load_ushort"), 2)
    check("global short_d16_hi", global_bytes_per_lane("global_load_short_d16_hi"), 2)
    check("buffer dwordx3", global_bytes_per_lane("buffer_load_dwordx3"), 12)
    # The model's arithmetic on one f16 MFMA-bound case: 1 WG of 4 waves, each
    # 8 x 16x16x16 f16 per iteration and nothing else: t_mfma = 128 cycles,
    # flops = 4 x 8 x 8192 = 262144 = 2048 flop/clk x 128 => 100 %.
    r = model_cu({"mfma": {"f32_16x16x16_f16": 8}, "global_bytes": 0, "lds_bytes": 0, "valu": 0}, 1, 4)
    check("mfma-bound pct", round(r["pct_peak_roofline"], 6), 100.0)
    return fails


# AMD's published Max-Achievable FLOPs (ROCm blog "Measuring Max-Achievable
# FLOPs - Part 2", 28 Feb 2025, Table 1 and Appendix B): hipblaslt-bench,
# M = 4096, N = 4864, K = 32896, f16 654 TFLOP/s at a 1115 MHz median clock,
# bf16 708 TFLOP/s at 1207 MHz. The blog names 256 x 256 tiles and
# v_mfma 16x16x16 as what the libraries use on MI300X.
MAF_URL = ("https://rocm.blogs.amd.com/software-tools-optimization/"
           "measuring-max-achievable-flops-part2/README.html")
MAF = [("f16", 654.0, 1115.0), ("bf16", 708.0, 1207.0)]


def maf_check():
    """The model's arithmetic applied to a kernel shaped like hipBLASLt's:
    256 x 256 tile, BK 64 (assumed), 4 waves of 128 x 128 (assumed), 16x16x16
    f16 MFMAs, A and B through LDS once (written once, each wave reading its
    128 rows of A and of B), no VALU; 304 tiles = one workgroup per CU."""
    bm = bn = 256
    bk, waves = 64, 4
    wm = wn = 128
    per_wave = {"mfma": {"f32_16x16x16_f16": (wm // 16) * (wn // 16) * (bk // 16)},
                "global_bytes": (bm + bn) * bk * 2 // waves,
                "lds_bytes": (bm + bn) * bk * 2 // waves + (wm + wn) * bk * 2,
                "valu": 0}
    cu = model_cu(per_wave, 1, waves)
    q = quantisation((4096, 4864, 32896), (bm, bn), 1)
    rows = []
    for dt, tflops, mhz in MAF:
        per_clock = tflops * 1e12 / (CUS * PEAK_PER_CU_CLK[dt] * mhz * 1e6) * 100
        rows.append({"dtype": dt, "tflops": tflops, "median_mhz": mhz,
                     "pct_of_1307": 100 * tflops * 1e12 / (CUS * PEAK_PER_CU_CLK[dt] * PEAK_CLOCK_GHZ * 1e9),
                     "pct_per_clock": per_clock})
    return {"source": MAF_URL, "per_wave": per_wave, "model": cu, "quantisation": q, "measured": rows}


def maf_markdown(r):
    cu, t = r["model"], r["model"]["cycles"]
    out = ["Published check (%s): hipblaslt-bench 4096 x 4864 x 32896." % r["source"], "",
           "Model, 256x256x64 tile, 4 waves of 128x128, %d x 16x16x16 f16 per wave per iteration, "
           "1 workgroup per CU (%d tiles, efficiency %.2f): t_mfma %.0f, t_lds %.0f, t_l2 %.0f, "
           "t_valu %.0f cycles -> %.1f %% of peak per clock (roofline), %.1f %% (pessimistic)."
           % (r["per_wave"]["mfma"]["f32_16x16x16_f16"], r["quantisation"]["tiles"],
              r["quantisation"]["efficiency"], t["mfma"], t["lds"], t["l2"], t["valu"],
              cu["pct_peak_roofline"], cu["pct_peak_pessimistic"]), ""]
    out.append("| dtype | published TFLOP/s | median clock | % of 1307.4 (2.1 GHz) | % of peak at that clock |")
    out.append("|---|---|---|---|---|")
    for m in r["measured"]:
        out.append("| %s | %.0f | %.0f MHz | %.1f | %.1f |" % (m["dtype"], m["tflops"], m["median_mhz"],
                                                           m["pct_of_1307"], m["pct_per_clock"]))
    return "\n".join(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hsaco", nargs="?", help="gfx942 code object (gretac ... --target=gfx942 -o X)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    ap.add_argument("--tile", help="the GEMM tile BMxBN the kernels compute (default: GRETA_GEMM_BM x "
                                   "GRETA_GEMM_BN from templates/launch_constants.h)")
    ap.add_argument("--shape", action="append", default=[],
                    help="GEMM shape MxNxK for the quantisation table (repeatable; default: "
                         "Llama-2-7B block at T = 512 and 2048)")
    ap.add_argument("--attention", action="append", default=[],
                    help="causal prefill TxH (tokens x query heads) for the attention kernels' table "
                         "(repeatable; default: 512x32 and 2048x32)")
    ap.add_argument("--source-dir", default=os.path.dirname(here),
                    help="GRETA source tree (for templates/launch_constants.h)")
    ap.add_argument("--disassembly", help="read this llvm-objdump -d text instead of running it")
    ap.add_argument("--notes", help="read this llvm-readelf --notes text instead of running it")
    ap.add_argument("--selftest", action="store_true", help="check the loop finder and exit")
    ap.add_argument("--maf-check", action="store_true",
                    help="the model on a hipBLASLt-like 256x256 kernel against AMD's published MI300X figure")
    a = ap.parse_args()

    if a.selftest:
        fails = selftest()
        for f in fails:
            print("FAIL " + f)
        print("selftest: %s" % ("ok" if not fails else "%d failures" % len(fails)))
        return 1 if fails else 0
    if a.maf_check:
        r = maf_check()
        print(json.dumps(r, indent=1) if a.json else maf_markdown(r))
        return 0
    if not a.hsaco and not a.disassembly:
        ap.error("expected a code object (or --disassembly/--notes)")

    if a.tile:
        m = re.fullmatch(r"(\d+)x(\d+)", a.tile)
        if not m:
            ap.error("--tile: expected BMxBN such as 64x64, found %r" % a.tile)
        tile, tile_src = (int(m.group(1)), int(m.group(2))), "--tile"
    else:
        tile, tile_src = read_tile(read_constants(a.source_dir))
    shapes = []
    for s in a.shape:
        m = re.fullmatch(r"(\d+)x(\d+)x(\d+)", s)
        if not m:
            ap.error("--shape: expected MxNxK such as 512x4096x4096, found %r" % s)
        shapes.append(tuple(int(g) for g in m.groups()))
    shapes = shapes or DEFAULT_SHAPES
    attention = []
    for s in a.attention:
        m = re.fullmatch(r"(\d+)x(\d+)", s)
        if not m:
            ap.error("--attention: expected TxH such as 512x32, found %r" % s)
        attention.append((int(m.group(1)), int(m.group(2))))
    attention = attention or DEFAULT_ATTENTION

    if a.disassembly:
        with open(a.disassembly) as f:
            dis = f.read()
    else:
        dis = run_tool(["llvm-objdump-19", "llvm-objdump"], ["-d", a.hsaco])
    if a.notes:
        with open(a.notes) as f:
            notes_text = f.read()
    elif a.hsaco:
        notes_text = run_tool(["llvm-readelf-19", "llvm-readelf"], ["--notes", a.hsaco])
    else:
        notes_text = ""
    funcs = parse_disassembly(dis)
    if not funcs:
        sys.exit("gfx942_model: no kernel found in the disassembly of %s" % (a.hsaco or a.disassembly))
    constants = read_constants(a.source_dir)
    tiles = None if a.tile else read_tiles(constants)
    kernels = analyse(funcs, parse_notes(notes_text), tile, shapes, tiles, attention, constants)

    if a.json:
        print(json.dumps({"source": a.hsaco or a.disassembly, "tile": list(tile), "tile_source": tile_src,
                          "gpu": {"cus": CUS, "simds_per_cu": SIMDS_PER_CU, "peak_clock_ghz": PEAK_CLOCK_GHZ,
                                  "lds_bytes_per_clk": LDS_BYTES_PER_CLK,
                                  "l2_bytes_per_clk_per_cu": L2_BYTES_PER_CLK_PER_CU},
                          "assumptions": ASSUMPTIONS, "kernels": kernels}, indent=1))
    else:
        print(markdown(kernels, tile, tile_src, a.hsaco or a.disassembly))
    return 0


if __name__ == "__main__":
    sys.exit(main())
