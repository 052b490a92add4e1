#!/usr/bin/env python3
"""Checks and times the decode-projection kernels of templates/gemv.h on an
NVIDIA GPU, from the cubin and manifest bench/gemv_kernels.c wrote.

  python3 bench/gemv_bench.py DIR [OUT_DIR]

DIR holds gemv.cubin and gemv.jsonl. Kernels are launched through the CUDA
driver API (ctypes) on torch's stream, with torch tensors as buffers.

check kernels: fresh random inputs, outputs poisoned with NaN first; the
result against float64 in torch (the same f32 RoPE table and angle as the
kernels); every cache row but the appended ones must stay NaN.
time kernels: the weight is copied until the copies span >= 1 GB (far past
the 60 MB L2), a CUDA graph of launches cycling through the copies is
replayed, and the median replay over the launch count is one launch's time.
The floor is weight bytes / the device-to-device copy bandwidth measured in
the same run (bytes read + written). Prints one table last; OUT_DIR gets
gemv_bench.json.
"""
import ctypes
import json
import math
import statistics
import sys

import torch

DTYPES = {0: torch.float32, 1: torch.float16, 2: torch.bfloat16}
TOL = {0: 2e-5, 1: 1e-3, 2: 8e-3}  # relative L2 error, by the dtype results are stored in

cu = ctypes.CDLL("libcuda.so.1")
cu.cuLaunchKernel.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [ctypes.c_void_p] * 3


def check_cu(rc, what):
    if rc != 0:
        msg = ctypes.c_char_p()
        cu.cuGetErrorString(rc, ctypes.byref(msg))
        raise RuntimeError(f"{what}: CUDA error {rc} ({msg.value})")


class Module:
    def __init__(self, path):
        torch.zeros(1, device="cuda")  # the primary context, current on this thread
        self.data = open(path, "rb").read()
        self.mod = ctypes.c_void_p()
        check_cu(cu.cuModuleLoadData(ctypes.byref(self.mod), ctypes.c_char_p(self.data)),
                 "cuModuleLoadData")
        self.fns = {}

    def fn(self, name):
        if name not in self.fns:
            f = ctypes.c_void_p()
            check_cu(cu.cuModuleGetFunction(ctypes.byref(f), self.mod, name.encode()), name)
            self.fns[name] = f
        return self.fns[name]

    def launch(self, k, tensors):
        """tensors: the kernel's buffers after params, in order."""
        vals = [ctypes.c_void_p(t.data_ptr()) for t in tensors]
        argv = (ctypes.c_void_p * len(vals))(*[ctypes.addressof(v) for v in vals])
        g = k["grid"]
        stream = torch.cuda.current_stream().cuda_stream
        check_cu(cu.cuLaunchKernel(self.fn(k["name"]), g[0], g[1], g[2], k["block"], 1, 1, 0,
                                   ctypes.c_void_p(stream), argv, None), k["name"])


def params_of(k):
    return torch.tensor([k["T"], k["pos"], 0, 0], dtype=torch.int32, device="cuda")


def rel_err(got, want):
    got, want = got.double(), want.double()
    if torch.isnan(got).any():
        return float("nan")
    return (torch.linalg.vector_norm(got - want) / torch.linalg.vector_norm(want)).item()


def inv_rms(x, eps):
    x = x.double()
    return 1.0 / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps)


def inv_freq(k):
    d = k["head_dim"]
    return torch.tensor([k["theta"] ** (-2.0 * i / d) for i in range(d // 2)],
                        dtype=torch.float64).float().cuda()


def rope_ref(y, positions, k):
    """y [T, heads, D] float64 -> rotated, angle = f32(position) * f32 table in f32."""
    half = k["head_dim"] // 2
    angle = positions.float()[:, None] * inv_freq(k)[None, :]  # f32 product, as the kernels
    c, s = torch.cos(angle.double())[:, None, :], torch.sin(angle.double())[:, None, :]
    y0, y1 = y[..., :half], y[..., half:]
    return torch.cat([y0 * c - y1 * s, y1 * c + y0 * s], dim=-1)


def weights(rows, cols, dt):
    return (torch.randn(rows, cols, device="cuda") * 0.05).to(DTYPES[dt])


def check_qkv(mod, k, fused):
    T, H, KVH, D, S = k["T"], k["heads"], k["kv_heads"], k["head_dim"], k["max_seq"]
    kt, nrows = DTYPES[k["kvdtype"]], (H + 2 * KVH) * D
    q = torch.full((T, H, D), float("nan"), device="cuda")
    kc = torch.full((S, KVH, D), float("nan"), device="cuda").to(kt)
    vc = torch.full((S, KVH, D), float("nan"), device="cuda").to(kt)
    if fused:
        x = torch.randn(T, k["k"], device="cuda")
        w = weights(nrows, k["k"], k["wdtype"])
        y = x.double() @ w.double().T
        if k["norm"]:
            y = y * inv_rms(x, k["eps"])
        mod.launch(k, [params_of(k), x, w, q, kc, vc])
    else:
        y32 = torch.randn(T, nrows, device="cuda")
        y = y32.double()
        mod.launch(k, [params_of(k), y32, q, kc, vc])
    torch.cuda.synchronize()
    y = y.view(T, H + 2 * KVH, D)
    positions = torch.arange(k["pos"], k["pos"] + T, device="cuda")
    rot = rope_ref(y[:, : H + KVH], positions, k)
    rows = slice(k["pos"], k["pos"] + T)
    errs = [rel_err(q, rot[:, :H]), rel_err(kc[rows], rot[:, H:]), rel_err(vc[rows], y[:, H + KVH:])]
    untouched = torch.ones(S, dtype=torch.bool)
    untouched[rows] = False
    stray = not (torch.isnan(kc[untouched].float()).all() and torch.isnan(vc[untouched].float()).all())
    tol = max(TOL[k["kvdtype"]], TOL[0])
    return max(errs), (max(errs) < tol and not stray), f"q/k/v {errs[0]:.1e}/{errs[1]:.1e}/{errs[2]:.1e}" + (
        " STRAY CACHE WRITES" if stray else "")


def check(mod, k):
    op, T = k["op"], k["T"]
    if op == "matmul":
        x = torch.randn(T, k["k"], device="cuda")
        w = weights(k["n"], k["k"], k["wdtype"])
        out = torch.full((T, k["n"]), float("nan"), device="cuda")
        want = x.double() @ w.double().T
        if k["norm"]:
            want = want * inv_rms(x, k["eps"])
        args = [params_of(k), x, w, out]
        if k["residual"]:
            res = torch.randn(T, k["n"], device="cuda")
            want = want + res.double()
            args.append(res)
        mod.launch(k, args)
        torch.cuda.synchronize()
        e = rel_err(out, want)
        return e, e < TOL[0], ""
    if op == "matmul_glu":
        n = k["n"]
        x = torch.randn(T, k["k"], device="cuda")
        w = weights(2 * n, k["k"], k["wdtype"])
        out = torch.full((T, n), float("nan"), device="cuda")
        y = (x.double() @ w.double().T) * (inv_rms(x, k["eps"]) if k["norm"] else 1.0)
        want = torch.nn.functional.silu(y[:, :n]) * y[:, n:]
        mod.launch(k, [params_of(k), x, w, out])
        torch.cuda.synchronize()
        e = rel_err(out, want)
        return e, e < TOL[0], ""
    if op in ("matmul_qkv", "qkv_rope_append"):
        return check_qkv(mod, k, op == "matmul_qkv")
    if op == "rms_scale":
        x = torch.randn(T, k["n"], device="cuda")
        out = torch.full_like(x, float("nan"))
        mod.launch(k, [params_of(k), x, out])
        torch.cuda.synchronize()
        e = rel_err(out, x.double() * inv_rms(x, k["eps"]))
        return e, e < TOL[0], ""
    if op == "glu":
        n = k["n"]
        x = torch.randn(T, 2 * n, device="cuda")
        out = torch.full((T, n), float("nan"), device="cuda")
        mod.launch(k, [params_of(k), x, out])
        torch.cuda.synchronize()
        xd = x.double()
        e = rel_err(out, torch.nn.functional.silu(xd[:, :n]) * xd[:, n:])
        return e, e < TOL[0], ""
    if op == "fold_norm":
        dt = DTYPES[k["wdtype"]]
        w = torch.randn(k["rows_coeff"], k["n"], device="cuda").to(dt)
        g = (1 + 0.3 * torch.randn(k["n"], device="cuda")).to(dt)
        want = (w.float() * g.float()).to(dt)  # f32 product, rounded to nearest even
        mod.launch(k, [params_of(k), w, g])
        torch.cuda.synchronize()
        mismatches = (w.view(torch.int16 if dt != torch.float32 else torch.int32) !=
                      want.view(torch.int16 if dt != torch.float32 else torch.int32)).sum().item()
        return float(mismatches), mismatches == 0, f"{mismatches} elements differ bitwise"
    raise ValueError(op)


def copy_bandwidth():
    """Device-to-device copy of 2 GiB, bytes read + written, median of 10."""
    a = torch.empty(2 << 30, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    b.copy_(a)
    times = []
    for _ in range(10):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        b.copy_(a)
        e1.record()
        torch.cuda.synchronize()
        times.append(e0.elapsed_time(e1) / 1e3)
    del a, b
    return 2 * (2 << 30) / statistics.median(times)


def time_kernel(mod, k):
    """Median seconds per launch over weight copies spanning >= 1 GB."""
    op = k["op"]
    if op == "matmul":
        rows, out_n = k["n"], k["n"]
    elif op == "matmul_glu":
        rows, out_n = 2 * k["n"], k["n"]
    else:
        rows, out_n = (k["heads"] + 2 * k["kv_heads"]) * k["head_dim"], 0
    K, dt = k["k"], k["wdtype"]
    wbytes = rows * K * torch.finfo(DTYPES[dt]).bits // 8
    copies = max(2, math.ceil(1e9 / wbytes))
    ws = [weights(rows, K, dt) for _ in range(copies)]
    x = torch.randn(1, K, device="cuda")
    p = params_of(k)
    if op == "matmul_qkv":
        S, KVH, D = k["max_seq"], k["kv_heads"], k["head_dim"]
        q = torch.empty(1, k["heads"], D, device="cuda")
        kc = torch.zeros(S, KVH, D, device="cuda", dtype=DTYPES[k["kvdtype"]])
        vc = torch.zeros_like(kc)
        args = lambda w: [p, x, w, q, kc, vc]  # noqa: E731
    else:
        out = torch.empty(1, out_n, device="cuda")
        res = torch.randn(1, out_n, device="cuda")
        args = lambda w: [p, x, w, out] + ([res] if k.get("residual") else [])  # noqa: E731
    launches = copies * max(1, math.ceil(240 / copies))
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for w in ws:
            mod.launch(k, args(w))
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for i in range(launches):
            mod.launch(k, args(ws[i % copies]))
    for _ in range(3):
        g.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(15):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        g.replay()
        e1.record()
        torch.cuda.synchronize()
        times.append(e0.elapsed_time(e1) / 1e3 / launches)
    spread = (max(times) - min(times)) / statistics.median(times)
    del ws, g
    torch.cuda.empty_cache()
    return statistics.median(times), wbytes, copies, launches, spread


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) > 2 else d
    kernels = [json.loads(line) for line in open(f"{d}/gemv.jsonl")]
    torch.manual_seed(1234)
    mod = Module(f"{d}/gemv.cubin")
    print(torch.cuda.get_device_name(), flush=True)
    results, failed = {"checks": [], "timings": []}, 0
    for k in kernels:
        if k["purpose"] != "check":
            continue
        try:
            err, ok, note = check(mod, k)
        except Exception as e:  # report and go on: one broken kernel should not hide the rest
            err, ok, note = float("nan"), False, f"raised {e}"
        failed += not ok
        results["checks"].append({"name": k["name"], "err": err, "ok": ok, "note": note})
        print(f"check {k['name']:28s} {'ok  ' if ok else 'FAIL'} err {err:.2e} {note}", flush=True)
    bw = copy_bandwidth()
    results["copy_Bps"] = bw
    for k in kernels:
        if k["purpose"] != "time":
            continue
        t, wbytes, copies, launches, spread = time_kernel(mod, k)
        floor = wbytes / bw
        row = {"name": k["name"], "s": t, "bytes": wbytes, "GBps": wbytes / t / 1e9,
               "pct_floor": 100 * floor / t, "pct_of_4.25": 100 * wbytes / 4.25e12 / t,
               "copies": copies, "launches": launches, "spread": spread}
        results["timings"].append(row)
        print(json.dumps(row), flush=True)
    json.dump(results, open(f"{out_dir}/gemv_bench.json", "w"), indent=1)
    print(f"\ncopy bandwidth (read + write) this run: {bw / 1e12:.3f} TB/s")
    print(f"{'kernel':22s} {'us':>8s} {'GB/s':>8s} {'%floor':>7s} {'%4.25':>7s} {'spread':>7s}")
    for r in results["timings"]:
        print(f"{r['name']:22s} {r['s'] * 1e6:8.2f} {r['GBps']:8.0f} {r['pct_floor']:7.1f} "
              f"{r['pct_of_4.25']:7.1f} {100 * r['spread']:6.1f}%")
    print(f"checks: {len(results['checks']) - failed} ok, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
