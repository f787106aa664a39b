#!/usr/bin/python3
"""flowgraph vs PyTorch 1.13, side by side (issue 6). Called by bench/compare.sh after it builds.

  compare.py run --build build-bench --rounds 3 --epochs 3 [--models plain200 plain50 ...] [--out FILE]
  compare.py report FILE.jsonl          # the tables again from saved results

`run` trains each model with each framework in turn (flowgraph, PyTorch Python, PyTorch libtorch),
round after round, so a disturbance on this shared 2-core machine hits every framework alike. Every
result line is saved (JSON lines) with the CPU time *other* processes took while it ran
("foreign load", in cores), then the markdown tables are printed.

FLOP convention: only the GEMMs both frameworks must do, 2*M*N*K each -- per step, forward (one per
layer) + weight gradients (one per layer) + input gradients of every layer but the first. The first
layer's input gradient is needed by neither (the images are not trainable, so neither flowgraph's
pruned plan nor PyTorch's autograd computes it). Bias, activation, batch norm, loss and update
FLOPs are not counted. Peak: 190 GFLOP/s (2 threads of AVX2 FMA; issue 6).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PEAK_GFLOPS = 190.0
N_TRAIN = 55000
MODELS = {  # layer widths and batch size
    "plain200": ([784, 300, 100, 10], 200),
    "plain50": ([784, 300, 100, 10], 50),
    "batch_norm": ([784, 300, 100, 10], 200),
    "train_dnn": ([784, 300, 300, 300, 300, 10], 200),
}
TARGET_SPEEDUP = {"plain200": 2.0, "plain50": 2.5, "batch_norm": 2.0, "train_dnn": None}
TORCH_ENV = {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}  # PyTorch's best setting here


def gflop_per_epoch(model):
    dims, _ = MODELS[model]
    pairs = list(zip(dims[:-1], dims[1:]))
    fwd = sum(2 * a * b for a, b in pairs)
    weight_grads = fwd
    input_grads = sum(2 * a * b for a, b in pairs[1:])
    return (fwd + weight_grads + input_grads) * N_TRAIN / 1e9


def cpu_busy_seconds():
    """Busy CPU seconds of the whole machine so far (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_quiet(timeout, idle_needed=0.85, window=2.0):
    """Waits (up to `timeout` s) until the machine is >= idle_needed idle for `window` seconds: on
    this shared 2-core machine another job's build makes OpenMP runs several times slower."""
    deadline = time.monotonic() + timeout
    ncpu = os.cpu_count() or 1
    while True:
        b0, t0 = cpu_busy_seconds(), time.monotonic()
        time.sleep(window)
        idle = 1 - (cpu_busy_seconds() - b0) / ((time.monotonic() - t0) * ncpu)
        if idle >= idle_needed or time.monotonic() >= deadline:
            return idle


def run_one(cmd, env_extra, tag):
    env = dict(os.environ)
    env.update(env_extra)
    r0 = os.times()
    busy0, t0 = cpu_busy_seconds(), time.monotonic()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - t0
    busy = cpu_busy_seconds() - busy0
    r1 = os.times()
    own = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    if p.returncode != 0:
        sys.stderr.write(f"{tag}: exit {p.returncode}\n{p.stderr[-2000:]}\n")
        return None
    summary = None
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            if d.get("summary") or d.get("model") == "infer":
                summary = d
    if summary is None:
        sys.stderr.write(f"{tag}: no summary line\n{p.stdout[-2000:]}\n")
        return None
    summary["foreign_load_cores"] = max(0.0, (busy - own) / wall)
    summary["wall_seconds"] = wall
    return summary


def framework_commands(build, model, epochs, threads=None):
    """(name, argv, environment additions). flowgraph runs in the caller's environment unless
    `threads` is given; PyTorch always at OMP_WAIT_POLICY=PASSIVE, 2 threads unless `threads`."""
    torch_env = dict(TORCH_ENV)
    fg_env = {}
    if threads:
        torch_env["OMP_NUM_THREADS"] = fg_env["OMP_NUM_THREADS"] = str(threads)
    return [
        ("flowgraph", [f"{build}/compare_bench", "--model", model, "--epochs", str(epochs)], fg_env),
        ("pytorch", ["/usr/bin/python3", os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers", "torch_mlp.py"),
                     "--model", model, "--epochs", str(epochs)], torch_env),
        ("libtorch", [f"{build}/peers/torch_mlp", "--model", model, "--epochs", str(epochs)], torch_env),
    ]


def bench_json(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # stderr: the banner
    if p.returncode != 0:
        sys.stderr.write(f"{cmd[0]}: exit {p.returncode}\n{p.stderr[-2000:]}\n")
        return {}
    return {b["name"]: b for b in json.loads(p.stdout)["benchmarks"]}


def run_latency(build, rounds):
    """Session overhead and single-sample inference: flowgraph's session_bench vs libtorch."""
    rows = []
    for r in range(rounds):
        wait_quiet(30)
        fg = bench_json([f"{build}/session_bench", "--benchmark_filter=CallableOverhead|Inference",
                         "--benchmark_format=json", "--benchmark_min_time=0.3"])
        rec = {"kind": "latency", "round": r}
        for name, b in fg.items():
            if b.get("run_type", "iteration") == "iteration":
                rec["fg:" + name.replace("/real_time", "")] = b["real_time"]  # µs (the benchmarks' unit)
                if "p50_us" in b:  # the per-call median, beside Google Benchmark's mean
                    rec["fg:" + name.replace("/real_time", "") + ":p50"] = b["p50_us"]
        t = run_one([f"{build}/peers/torch_mlp", "--model", "infer"], TORCH_ENV, "libtorch infer")
        if t:
            rec["torch:mlp"] = t["mlp_784_300_100_10_us"]
            rec["torch:tiny"] = t["relu_dense_1x10_us"]
        rows.append(rec)
    return rows


def cmd_run(a):
    models = a.models or list(MODELS)
    out = a.out or os.path.join(a.build, "compare", time.strftime("results-%Y%m%d-%H%M%S.jsonl"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        rev = subprocess.run(["git", "-C", root, "describe", "--always", "--dirty"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout.strip()
        meta = {"kind": "meta", "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "rounds": a.rounds, "git": rev,
                "epochs": a.epochs, "models": models, "frameworks": a.frameworks,
                "threads": a.threads or "flowgraph: environment's; PyTorch: 2"}
        f.write(json.dumps(meta) + "\n")
        for r in range(a.rounds):
            for model in models:
                for name, cmd, env in framework_commands(a.build, model, a.epochs, a.threads):
                    if name not in a.frameworks:
                        continue
                    res = None
                    for attempt in range(1 + a.retries):
                        idle = wait_quiet(a.quiet_timeout)
                        sys.stderr.write(f"round {r + 1}/{a.rounds}: {name} {model} (idle before {idle:.0%}) ...")
                        sys.stderr.flush()
                        res = run_one(cmd, env, f"{name} {model}")
                        if res is None or res["foreign_load_cores"] <= a.max_foreign:
                            break
                        sys.stderr.write(" disturbed (foreign load %.2f cores), again\n" % res["foreign_load_cores"])
                    if res is None:
                        sys.stderr.write(" failed\n")
                        continue
                    res.update({"kind": "train", "framework": name, "round": r})
                    sys.stderr.write(" %.2f s/epoch median, foreign load %.2f cores\n" %
                                     (statistics.median(res["epoch_seconds"]), res["foreign_load_cores"]))
                    f.write(json.dumps(res) + "\n")
                    f.flush()
        kernels_json = None
        if not a.skip_kernels:
            sys.stderr.write("kernels: kernels_bench (per-kernel figures for the step budget) ...\n")
            wait_quiet(a.quiet_timeout)
            kernels_json = out.replace(".jsonl", "-kernels.json")
            subprocess.run([f"{a.build}/kernels_bench", f"--benchmark_out={kernels_json}", "--benchmark_out_format=json",
                            # Repetitions interleaved in random order, so a drift of the machine's speed
                            # during the ~2 minutes hits every kernel alike (the budget compares them).
                            "--benchmark_repetitions=5", "--benchmark_min_time=0.1",
                            "--benchmark_enable_random_interleaving=true"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            f.write(json.dumps({"kind": "kernels", "file": kernels_json}) + "\n")
            gb = f"{a.build}/peers/gemm_backends"
            if os.path.exists(gb):
                sys.stderr.write("kernels: OpenBLAS and oneDNN SGEMM at the same shapes ...\n")
                env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2")
                p = subprocess.run([gb], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                if p.returncode == 0:
                    f.write(json.dumps({"kind": "gemm_backends", "table": p.stdout}) + "\n")
        if not a.skip_latency:
            sys.stderr.write("latency: session_bench and libtorch inference ...\n")
            for rec in run_latency(a.build, a.rounds):
                f.write(json.dumps(rec) + "\n")
    sys.stderr.write(f"results: {out}\n")
    report(out, a.max_foreign)
    if kernels_json and os.path.exists(kernels_json):
        budget(kernels_json)


def fmt(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def measured_peak(rows):
    """2-thread AVX-512 FMA GFLOP/s from the run's kernels_bench output (BM_FmaPeak/avx512), if any."""
    for r in rows:
        if r.get("kind") == "kernels" and r.get("file") and os.path.exists(r["file"]):
            vals = [b["GFLOP/s"] for b in json.load(open(r["file"]))["benchmarks"]
                    if b["name"].startswith("BM_FmaPeak/avx512") and b.get("run_type", "iteration") == "iteration"]
            if vals:
                return max(vals)
    return None


def report(path, max_foreign=0.25):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    meta = next((r for r in rows if r.get("kind") == "meta"), {})
    peak512 = measured_peak(rows)
    train = [r for r in rows if r.get("kind") == "train"]
    print(f"Results {os.path.basename(path)} ({meta.get('date', '?')}; flowgraph {meta.get('git', '?')}; "
          f"{meta.get('rounds', '?')} rounds x "
          f"{meta.get('epochs', '?')} epochs; threads: {meta.get('threads', '?')}; s/epoch is the median over every "
          f"epoch of every round; CPU s/epoch counts every thread, spin-waiting included; foreign load: cores other "
          f"processes used meanwhile)\n")
    names = {"flowgraph": "flowgraph", "pytorch": "PyTorch (Python)", "libtorch": "PyTorch (libtorch C++)"}
    summary = []
    for model in [m for m in MODELS if any(r["model"] == m for r in train)]:
        gflop = gflop_per_epoch(model)
        _, batch = MODELS[model]
        stats = {}
        for fw in names:
            rs = [r for r in train if r["model"] == model and r["framework"] == fw]
            if not rs:
                continue
            # Runs that another job disturbed (retries exhausted) are left out when clean ones exist.
            clean = [r for r in rs if r["foreign_load_cores"] <= max_foreign]
            dropped = len(rs) - len(clean) if clean else 0
            rs = clean or rs
            secs = [s for r in rs for s in r["epoch_seconds"]]
            cpus = [s for r in rs for s in r.get("epoch_cpu_seconds", [])]
            stats[fw] = {
                "cpu": statistics.median(cpus) if cpus else None,
                "median": statistics.median(secs), "min": min(secs), "max": max(secs),
                "acc": statistics.median(r["accuracy"] for r in rs),
                "rss": statistics.median(r["peak_rss_mb"] for r in rs),
                "load": statistics.mean(r["foreign_load_cores"] for r in rs),
                "runs": f"{len(rs)}" + (f" (+{dropped} disturbed, left out)" if dropped else ""),
            }
        torch_fws = [fw for fw in ("pytorch", "libtorch") if fw in stats]
        best = min(torch_fws, key=lambda fw: stats[fw]["median"]) if torch_fws else None
        print(f"### {model} (batch {batch}, {gflop:.1f} GFLOP of GEMMs per epoch)\n")
        p512 = f"% of {peak512:.0f} (AVX-512) | " if peak512 else ""
        print(f"| framework | s/epoch (median) | min–max | images/s | GFLOP/s | % of 190 peak | {p512}final val. accuracy "
              "| peak RSS (MB) | flowgraph speed ÷ this | CPU s/epoch | foreign load (cores) | runs |")
        print("|---|---:|---:|---:|---:|---:|" + ("---:|" if peak512 else "") + "---:|---:|---:|---:|---:|---:|")
        for fw, s in stats.items():
            speed = s["median"] / stats["flowgraph"]["median"] if "flowgraph" in stats else None
            print(f"| {names[fw]} | {s['median']:.3f} | {s['min']:.2f}–{s['max']:.2f} | {N_TRAIN / s['median']:,.0f} "
                  f"| {gflop / s['median']:.1f} | {100 * gflop / s['median'] / PEAK_GFLOPS:.1f} % | "
                  + (f"{100 * gflop / s['median'] / peak512:.1f} % | " if peak512 else "") + f"{s['acc']:.4f} "
                  f"| {s['rss']:.0f} | {fmt(speed)}× | {fmt(s['cpu'])} | {s['load']:.2f} | {s['runs']} |")
        if "flowgraph" in stats and best:
            ratio = stats[best]["median"] / stats["flowgraph"]["median"]
            # Paired per round: this machine's speed drifts between rounds (other VMs on the host), and
            # the frameworks of one round ran back to back.
            paired = []
            for rnd in sorted({r["round"] for r in train}):
                def round_median(fw):
                    v = [x for r in train if r["model"] == model and r["framework"] == fw and r["round"] == rnd
                         and r["foreign_load_cores"] <= max_foreign for x in r["epoch_seconds"]]
                    return statistics.median(v) if v else None
                f, t = round_median("flowgraph"), round_median(best)
                if f and t:
                    paired.append(t / f)
            lean = min(torch_fws, key=lambda fw: stats[fw]["rss"])
            rss_ratio = stats["flowgraph"]["rss"] / stats[lean]["rss"]
            target = TARGET_SPEEDUP[model]
            verdict = "" if target is None else (f" (target ≥ {target}×: {'met' if ratio >= target else 'not met'})")
            pr = " (per round: " + ", ".join(f"{x:.2f}×" for x in paired) + ")" if len(paired) > 1 else ""
            print(f"\nflowgraph ÷ PyTorch best ({names[best]}): **{ratio:.2f}×** images/s{pr}{verdict}; peak RSS "
                  f"{rss_ratio:.2f}× the leaner peer's ({names[lean]}; target ≤ 0.6×: "
                  f"{'met' if rss_ratio <= 0.6 else 'not met'}).\n")
            summary.append((model, ratio, target, rss_ratio))
    for r in rows:
        if r.get("kind") == "gemm_backends":
            print("### SGEMM of PyTorch's libraries at the same shapes, 2 threads (bench/peers/gemm_backends)\n")
            print(r["table"])
    lat = [r for r in rows if r.get("kind") == "latency"]
    if lat:
        def med(key):
            v = [r[key] for r in lat if key in r]
            return statistics.median(v) if v else None
        e0, e10, e100 = (med(f"fg:BM_CallableOverheadChain/{n}") for n in (0, 10, 100))
        per_node = (e100 - e0) / 100 if e0 is not None and e100 is not None else None
        print("### Latency (µs per call, median of rounds)\n")
        print("| measure | flowgraph | libtorch | target |")
        print("|---|---:|---:|---|")
        print(f"| cached plan, empty (0 nodes) | {fmt(e0)} | | ≤ 3 µs per run |")
        print(f"| cached plan, 10-node chain | {fmt(e10)} | | |")
        print(f"| cached plan, 100-node chain | {fmt(e100)} | | |")
        print(f"| per node ((100-chain − empty) / 100) | {fmt(per_node, 3)} | | ≤ 0.5 µs per node |")
        print(f"| single-sample MLP 784-300-100-10, [1,784] → logits, mean | {fmt(med('fg:BM_MlpInference/1'))} "
              f"| {fmt(med('torch:mlp'))} | ≤ 5 µs |")
        print(f"| the same, median call | {fmt(med('fg:BM_MlpInference/1:p50'))} | | |")
        print(f"| `relu(x W + b)`, x [1,10], W [10,10] | {fmt(med('fg:BM_TinyDenseInference'))} "
              f"| {fmt(med('torch:tiny'))} | (PyTorch anchor 3–6 µs) |")
        print()


# The kernels of one training step, as kernels_bench names them: (label, benchmark, count per step).
# Ops on [200, 10] and smaller (the output layer's bias/BN, the loss's Mean and its gradient's
# shape ops) are not listed; they fall into "the rest".
# What both models' steps run: the gather, the six GEMMs of the dense layers, bias, loss and update.
DENSE_STEP_KERNELS = [
    ("gather the batch (outside the Session)", "BM_GatherBatch/200", 1),
    ("MatMul L1 forward 200x784x300", "BM_MatMul/L1_fwd_200x784x300", 1),
    ("MatMul L1 dW 784x200x300 (transpose_a)", "BM_MatMul/L1_dW_784x200x300_ta", 1),
    ("MatMul L2 forward 200x300x100", "BM_MatMul/L2_fwd_200x300x100", 1),
    ("MatMul L2 dW 300x200x100 (transpose_a)", "BM_MatMul/L2_dW_300x200x100_ta", 1),
    ("MatMul L2 dX 200x100x300 (transpose_b)", "BM_MatMul/L2_dX_200x100x300_tb", 1),
    ("MatMul L3 forward/dW/dX (x10)", ["BM_MatMul/L3_fwd_200x100x10", "BM_MatMul/L3_dW_100x200x10_ta",
                                      "BM_MatMul/L3_dX_200x10x100_tb"], 1),
    ("BiasAdd [200,300] + [200,100]", ["BM_BiasAdd/200/300", "BM_BiasAdd/200/100"], 1),
    ("BiasAddGrad [200,300] + [200,100]", ["BM_BiasAddGrad/200/300", "BM_BiasAddGrad/200/100"], 1),
    ("SparseSoftmaxCrossEntropyWithLogits [200,10]", "BM_SparseSoftmaxXent", 1),
    ("ApplyGradientDescent [784,300] + [300,100]", ["BM_ApplyGradientDescent/784/300",
                                                    "BM_ApplyGradientDescent/300/100"], 1),
]
STEP_KERNELS = {
    "plain200": ("BM_TrainStep/plain/200", DENSE_STEP_KERNELS + [
        ("Relu [200,300] + [200,100]", ["BM_Relu/200/300", "BM_Relu/200/100"], 1),
        ("ReluGrad [200,300] + [200,100]", ["BM_ReluGrad/200/300", "BM_ReluGrad/200/100"], 1),
    ]),
    "batch_norm": ("BM_TrainStep/batch_norm/200", DENSE_STEP_KERNELS + [
        ("FusedBatchNorm fwd [200,300/100/10]", ["BM_FusedBatchNorm_fwd/200/300",
                                               "BM_FusedBatchNorm_fwd/200/100",
                                               "BM_FusedBatchNorm_fwd/200/10"], 1),
        ("FusedBatchNormGrad [200,300/100/10]", ["BM_FusedBatchNorm_bwd/200/300",
                                               "BM_FusedBatchNorm_bwd/200/100",
                                               "BM_FusedBatchNorm_bwd/200/10"], 1),
        ("Elu [200,300] + [200,100]", ["BM_Elu/200/300", "BM_Elu/200/100"], 1),
        ("EluGrad [200,300] + [200,100]", ["BM_EluGrad/200/300", "BM_EluGrad/200/100"], 1),
    ]),
}


def budget(path):
    """Per-step time budget from kernels_bench's JSON (--benchmark_out): each hot kernel's share."""
    data = json.load(open(path))
    t = {}
    for b in data["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue
        name = b["name"].replace("/real_time", "")
        scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]
        t.setdefault(name, []).append(b["real_time"] * scale)
    us = {k: statistics.median(v) for k, v in t.items()}
    for model, (step_name, kernels) in STEP_KERNELS.items():
        if step_name not in us:
            continue
        step = us[step_name]
        gather = us.get("BM_GatherBatch/200", 0.0)
        total = step + gather
        print(f"### {model}: one step = {step:.0f} µs in the Session + {gather:.0f} µs gathering the batch "
              f"(= {total * 275 / 1e6:.2f} s per epoch of 275 steps)\n")
        print("| kernel (as kernels_bench measures it, alone) | µs per step | share of the step |")
        print("|---|---:|---:|")
        acc = 0.0
        rows = []
        for label, names, count in kernels:
            names = [names] if isinstance(names, str) else names
            if any(n not in us for n in names):
                continue
            v = count * sum(us[n] for n in names)
            acc += v
            rows.append((v, label))
        for v, label in sorted(rows, reverse=True):
            print(f"| {label} | {v:.1f} | {100 * v / total:.1f} % |")
        rest = total - acc
        print(f"| the rest: small ops, dispatch, allocation, cache misses between ops | {rest:.1f} | "
              f"{100 * rest / total:.1f} % |\n")
        if rest < 0:
            print("(The kernels add up to more than the step: the machine's speed changed while they ran; "
                  "take this budget's shares as rough.)\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--build", default="build-bench")
    r.add_argument("--rounds", type=int, default=3)
    r.add_argument("--epochs", type=int, default=3)
    r.add_argument("--models", nargs="*", choices=sorted(MODELS))
    r.add_argument("--frameworks", nargs="*", default=["flowgraph", "pytorch", "libtorch"],
                   choices=["flowgraph", "pytorch", "libtorch"])
    r.add_argument("--threads", type=int,
                   help="OMP_NUM_THREADS for every framework (default: flowgraph the environment's, PyTorch 2)")
    r.add_argument("--skip-latency", action="store_true")
    r.add_argument("--skip-kernels", action="store_true")
    r.add_argument("--quiet-timeout", type=float, default=120,
                   help="seconds to wait for an idle machine before each run (then run anyway)")
    r.add_argument("--max-foreign", type=float, default=0.25,
                   help="re-run a run during which other processes used more cores than this")
    r.add_argument("--retries", type=int, default=2)
    r.add_argument("--out")
    q = sub.add_parser("report")
    q.add_argument("file")
    q.add_argument("--max-foreign", type=float, default=0.25)
    k = sub.add_parser("budget", help="per-step kernel budget from `kernels_bench --benchmark_out=FILE`")
    k.add_argument("file")
    a = p.parse_args()
    if a.cmd == "run":
        cmd_run(a)
    elif a.cmd == "budget":
        budget(a.file)
    else:
        report(a.file, a.max_foreign)


if __name__ == "__main__":
    main()
