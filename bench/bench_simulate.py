"""Benchmark: one full sky of a profile (default lat6): wall time and peak memory.

Usage: .venv/bin/python bench/bench_simulate.py [--profile lat6] [--seed 0]
Writes bench/results/simulate.json. Goal (lat6, 2 cores): <= 60 s and <= 6 GB.
The first sky includes the per-profile exposure and diffuse maps (computed once per process); the second sky
(another seed) shows the per-sky cost when those are cached, as in `simulate_skies` workers.
"""
import argparse, json, os, resource, sys, time, tempfile
from pathlib import Path




def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--profile', default='lat6')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'simulate.json'))
    a = ap.parse_args(argv)
    from fermi_nb.config import load_profile
    from fermi_nb.sky import simulate_sky
    profile = load_profile(a.profile)
    population = 'fermi_nb.population.draw_population'

    t0 = time.perf_counter()
    sky = simulate_sky(profile, a.seed)
    t_first = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        t1 = time.perf_counter(); sky.save(d); t_save = time.perf_counter() - t1
        size_mb = sum(f.stat().st_size for f in Path(d).rglob('*') if f.is_file()) / 2**20
    n_src = len(sky.sources)
    counts = [float(sky.source_counts[k].sum()) for k in range(profile.n_bins)]
    diffuse = [float(sky.diffuse_counts[k].sum()) for k in range(profile.n_bins)]
    del sky
    t2 = time.perf_counter()
    sky2 = simulate_sky(profile, a.seed + 1)
    t_second = time.perf_counter() - t2
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20   # ru_maxrss is in KiB on Linux
    res = dict(profile=profile.name, seed=a.seed, population=population, n_sources=n_src,
               wall_first_sky_s=round(t_first, 2), wall_second_sky_s=round(t_second, 2), save_s=round(t_save, 2),
               sky_dir_mb=round(size_mb, 1), peak_rss_gb=round(peak_gb, 2),
               source_counts_per_bin=[round(c) for c in counts], diffuse_counts_per_bin=[round(c) for c in diffuse],
               cpu_count=os.cpu_count(), goal='<= 60 s and <= 6 GB per sky on 2 cores',
               date=time.strftime('%Y-%m-%dT%H:%M:%S'))
    print(json.dumps(res, indent=1))
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix('.json.tmp'); tmp.write_text(json.dumps(res, indent=1)); os.replace(tmp, out)
    return res


if __name__ == '__main__':
    main()
