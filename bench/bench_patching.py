"""Benchmark of fermi_nb.patching on the lat6 geometry (768 patches x 6 bins, 32/32/64/128/128/128 px at
Nside 128/128/256/512/1024/1024).

Measures: the one-off pixel-table build (compute + npz write), loading the tables from the disk cache, cutting one
full sky (random maps) with the tables in memory, and random batch reads from a one-sky patch store.
Run: .venv/bin/python bench/bench_patching.py [--profile lat6]   → prints and writes bench/results/patching.json
"""
import argparse, json, os, platform, shutil, sys, tempfile, time
from pathlib import Path
import numpy as np
import healpy as hp

from fermi_nb.config import load_profile
from fermi_nb import patching
from fermi_nb.patching import PatchGeometry, write_patch_store, PatchStore


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--profile', default='lat6')
    ap.add_argument('--repeats', type=int, default=3, help='timed cuts of one sky')
    ap.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'patching.json'))
    args = ap.parse_args()
    profile = load_profile(args.profile)
    tmp = Path(tempfile.mkdtemp(prefix='bench_patching_'))
    res = dict(profile=profile.name, n_patches=profile.n_patches, npix=profile.patches.npix, nside=profile.nside,
               cpu_count=os.cpu_count(), python=platform.python_version(), host=platform.node())
    try:
        rng = np.random.default_rng(0)
        maps = [rng.random(hp.nside2npix(n), dtype=np.float32) * 10 for n in profile.nside]

        geom = PatchGeometry.build(profile, rotation_seed=None, cache_dir=tmp / 'cache')
        patching._TABLE_CACHE.clear()
        t0 = time.perf_counter(); geom.load_tables(); res['table_build_s'] = time.perf_counter() - t0
        res['table_cache_mb'] = sum(p.stat().st_size for p in (tmp / 'cache').glob('*.npz')) / 1e6

        patching._TABLE_CACHE.clear()
        geom2 = PatchGeometry.build(profile, rotation_seed=None, cache_dir=tmp / 'cache')
        t0 = time.perf_counter(); geom2.load_tables(); res['table_load_from_disk_s'] = time.perf_counter() - t0

        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter(); cut = geom2.cut(maps); times.append(time.perf_counter() - t0)
        res['cut_one_sky_s'] = min(times); res['cut_one_sky_all_s'] = times
        res['cut_output_mb'] = sum(c.nbytes for c in cut) / 1e6

        rot = PatchGeometry.build(profile, rotation_seed=1, cache_dir=False)
        t0 = time.perf_counter(); rot.load_tables(); res['table_build_rotated_memory_only_s'] = time.perf_counter() - t0

        n_src = 2000
        l = rng.uniform(0, 360, n_src); b = np.degrees(np.arcsin(rng.uniform(-1, 1, n_src)))
        import pandas as pd
        src = pd.DataFrame(dict(source_id=np.arange(n_src), glon_deg=l, glat_deg=b, cls='PSR', s1_ph_cm2_s=1e-9))
        t0 = time.perf_counter(); sip = geom2.sources_in_patches(src); masks = geom2.target_masks(sip)
        res['sources_and_masks_2000_s'] = time.perf_counter() - t0

        path = tmp / 'patches.h5'
        t0 = time.perf_counter(); write_patch_store(path, [(maps, src)], geom2, profile, progress=False)
        res['store_write_one_sky_s'] = time.perf_counter() - t0
        res['store_one_sky_mb'] = path.stat().st_size / 1e6
        store = PatchStore(path)
        bs = profile.training.batch_size; reads = []
        for _ in range(20):
            idx = rng.choice(len(store), bs, replace=False)
            t0 = time.perf_counter(); store.asimov(idx); store.mask(idx); reads.append(time.perf_counter() - t0)
        res['store_random_batch_read_ms'] = 1e3 * float(np.median(reads)); res['batch_size'] = bs
        t0 = time.perf_counter(); store.sample(idx, rng); res['store_sample_batch_ms'] = 1e3 * (time.perf_counter() - t0)
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for k, v in res.items(): print(f'{k:36s} {v}')
    out = Path(args.out); out.parent.mkdir(parents=True, exist_ok=True)
    tmpf = out.with_suffix('.json.tmp'); tmpf.write_text(json.dumps(res, indent=1)); os.replace(tmpf, out)
    print('wrote', out)


if __name__ == '__main__':
    main()
