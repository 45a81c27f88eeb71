"""Benchmark: MIUN inference throughput for a whole lat6 sky (768 patches) on 2 CPU cores.

Run: .venv/bin/python bench/bench_miun.py [--profile lat6] [--patches 768] [--batch-size 32] [--threads 2]
Writes bench/results/miun.json (atomically). Goal (lat6): 768 patches in <= 30 s on 2 cores.
Inference time does not depend on the weights, so a freshly built (untrained) model is timed.
"""
import argparse, json, os, platform, sys, time
from pathlib import Path

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument('--profile', default='lat6')
ap.add_argument('--patches', type=int, default=768)
ap.add_argument('--batch-size', type=int, default=32)
ap.add_argument('--threads', type=int, default=2, help='TF intra-op threads (inter-op = 1)')
ap.add_argument('--repeats', type=int, default=2, help='timed passes over all patches (best is reported)')
ap.add_argument('--xla', action='store_true', help='also time an XLA-compiled forward pass (compiles for ~1 min)')
ap.add_argument('--out', default=str(Path(__file__).resolve().parent / 'results' / 'miun.json'))
args = ap.parse_args()

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ['TF_NUM_INTRAOP_THREADS'] = str(args.threads)
os.environ['TF_NUM_INTEROP_THREADS'] = '1'
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(args.threads)
tf.config.threading.set_inter_op_parallelism_threads(1)
import keras
from fermi_nb.config import load_profile
from fermi_nb.miun import build_miun, predict_patches, toy_patches

profile = load_profile(args.profile)
model = build_miun(profile)
base, _ = toy_patches(profile, 64, np.random.default_rng(0))
reps = -(-args.patches // 64)
counts = [np.random.default_rng(k).poisson(np.concatenate([a] * reps)[:args.patches]).astype(np.float32)
          for k, a in enumerate(base)]

def timed(fn):
    "Best wall time over the repeats, and the process CPU time of that pass."
    best, best_cpu = np.inf, np.inf
    for _ in range(args.repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if wall < best: best, best_cpu = wall, cpu
    return out, best, best_cpu

# Keras predict (the path predict_patches takes)
t0 = time.perf_counter(); predict_patches(model, [c[:args.batch_size] for c in counts], args.batch_size)
warmup_s = time.perf_counter() - t0
prob, wall_s, cpu_s = timed(lambda: predict_patches(model, counts, args.batch_size))
assert prob.shape == (args.patches, profile.finest_npix, profile.finest_npix)

load_before = os.getloadavg()[0]
xla_result = None
if args.xla:   # the same network compiled with XLA (tf.function(jit_compile=True)), for comparison
    xla = tf.function(lambda feed: model(feed, training=False), jit_compile=True)
    def xla_predict():
        outs = []
        for s in range(0, args.patches, args.batch_size):
            feed = {f'bin{k}': tf.constant(c[s:s + args.batch_size, ..., None]) for k, c in enumerate(counts)}
            outs.append(xla(feed).numpy()[..., 0])
        return np.concatenate(outs)
    t0 = time.perf_counter(); xla_predict(); xla_warmup_s = time.perf_counter() - t0   # compiles (two batch shapes at most)
    prob_xla, xla_wall_s, xla_cpu_s = timed(xla_predict)
    xla_result = dict(seconds=round(xla_wall_s, 2), patches_per_s=round(args.patches / xla_wall_s, 1),
                      cpu_seconds=round(xla_cpu_s, 2), warmup_s=round(xla_warmup_s, 2),
                      max_abs_diff=float(np.abs(prob_xla - prob).max()))

result = dict(
    benchmark='miun_inference', profile=profile.name, n_patches=args.patches, batch_size=args.batch_size,
    threads=args.threads, n_params=int(model.count_params()), input_npix=list(profile.patches.npix),
    seconds=round(wall_s, 2), patches_per_s=round(args.patches / wall_s, 1), cpu_seconds=round(cpu_s, 2),
    idle_estimate_s=round(cpu_s / args.threads, 2),   # wall time if the threads had the cores to themselves
    warmup_s=round(warmup_s, 2),
    xla=xla_result,
    goal_s=30.0, meets_goal=bool(wall_s <= 30.0),
    load_average_1min=round(max(load_before, os.getloadavg()[0]), 2), cpu_count=os.cpu_count(), machine=platform.processor() or platform.machine(),
    tensorflow=tf.__version__, keras=keras.__version__, python=sys.version.split()[0],
    date=time.strftime('%Y-%m-%dT%H:%M:%S'))
print(json.dumps(result, indent=1))
out = Path(args.out); out.parent.mkdir(parents=True, exist_ok=True)
tmp = out.with_name(f'.{out.name}.tmp'); tmp.write_text(json.dumps(result, indent=1)); os.replace(tmp, out)
print(f"{profile.name}: {args.patches} patches in {wall_s:.1f} s ({args.patches / wall_s:.1f} patches/s), {cpu_s:.1f} CPU-s "
      f"on {args.threads} threads (≈ {cpu_s / args.threads:.1f} s on idle cores; load {result['load_average_1min']}) → {out}")
