"""Are the bright 4FGL-DR2 sources the detector misses visible in the real map at all?

For every 4FGL-DR2 source with expected TS >= 25 in the Galactic plane (and, for comparison, those at |b| > 10 deg in
128 patches spread over the sky), the likelihood TS map of its best patch (51b_ts_map's inputs: the real counts, the
fitted diffuse templates, the effective PSF) is read at the catalogue position (bilinear) and as its maximum within
the association radius. A source whose TS at its own position is below 9 shows no 3-sigma excess where 4FGL-DR2 puts it;
no blind search on this map can be expected to find it. Split by whether the run's DL catalogue found it (0.5 deg).

Usage: FERMI_NB_DATA=... python studies/bright_misses/visible_at_position.py RUN [RUN ...] OUT_JSON
(the TS maps depend only on the map and the profile; each RUN contributes its DL detections)
"""
import json, sys, time, warnings, logging
from pathlib import Path
import numpy as np
import pandas as pd
from scipy.ndimage import map_coordinates
from fermi_nb.config import atomic_write_text, write_csv_atomic
from fermi_nb.runner import run_profile
from fermi_nb.patching import PatchGeometry
from fermi_nb.baseline import patch_dataset, ts_peaks, psf_map, effective_psf_tables, spread_patches
from fermi_nb.tsmap import real_map_ts_inputs
from fermi_nb.realsky import expected_ts_4fgl
from fermi_nb.catalog import crossmatch
from fermi_nb.geometry import is_high_latitude

MIN_EXPECTED_TS = 25.0
N_HIGH_PATCHES = 128      # high-latitude comparison: sources whose best patch is one of these
TS_LEVELS = (9.0, 25.0)


def ts_at_sources(geom, inputs, psf, src: pd.DataFrame, radius_deg: float) -> pd.DataFrame:
    "TS of the real map at each source position and its maximum within radius_deg, from the TS map of the source's best patch."
    best, _ = geom.best_patch(src.glon_deg.to_numpy(float), src.glat_deg.to_numpy(float))
    at_pos, near_max = np.full(len(src), np.nan), np.full(len(src), np.nan)
    P = geom.npix_of(None); r_px = radius_deg / float(geom.profile.patch_pixel_deg.min())
    yy, xx = np.mgrid[0:P, 0:P]
    for n, p in enumerate(np.unique(best)):
        rows = np.flatnonzero(best == p)
        ds = patch_dataset(geom, int(p), [c[p] for c in inputs['counts']], [b[p] for b in inputs['background']],
                           [e[p] for e in inputs['exposure']], psf=psf)
        _, ts = ts_peaks(ds, int(p), 3.0)
        x, y = geom.sky_to_pixel(np.full(len(rows), p), src.glon_deg.to_numpy(float)[rows], src.glat_deg.to_numpy(float)[rows])
        at_pos[rows] = map_coordinates(ts, [y, x], order=1, mode='nearest')
        near_max[rows] = [ts[(xx - xi) ** 2 + (yy - yi) ** 2 <= r_px ** 2].max() for xi, yi in zip(x, y)]
        if n % 25 == 0: print(f"patch {n + 1}/{len(np.unique(best))}", flush=True)
    return src.assign(best_patch=best, ts_at_position=at_pos, ts_max_near=near_max)


def summary(t: pd.DataFrame, found: np.ndarray) -> dict:
    "Fractions of the sources with TS at their position / near it above each level, all and split by DL found / missed."
    out = {}
    for name, s in (('all', np.ones(len(t), bool)), ('DL found', found), ('DL missed', ~found)):
        row = {'n': int(s.sum())}
        for lvl in TS_LEVELS:
            row[f'ts_at_position>={lvl:g}'] = round(float((t.ts_at_position[s] >= lvl).mean()), 4) if s.any() else None
            row[f'ts_max_near>={lvl:g}'] = round(float((t.ts_max_near[s] >= lvl).mean()), 4) if s.any() else None
        row['median_ts_at_position_over_expected'] = round(float(np.median(t.ts_at_position[s] / t.expected_ts[s])), 4) if s.any() else None
        out[name] = row
    return out


def main(runs, out):
    warnings.filterwarnings('ignore'); logging.getLogger('gammapy').setLevel(logging.ERROR)
    runs = [Path(r) for r in runs]
    p = run_profile(runs[0] / 'profile.yaml'); rd = p.real_data; geom = PatchGeometry.build(p)
    t0 = time.process_time()
    inputs, _ = real_map_ts_inputs(p, geom); psf = psf_map(p, tables=effective_psf_tables(geom))
    ets = expected_ts_4fgl(p)
    bright = ets[ets.expected_ts >= MIN_EXPECTED_TS].reset_index(drop=True)
    plane = ~is_high_latitude(bright.glat_deg, rd.lat_split_deg)
    best, _ = geom.best_patch(bright.glon_deg.to_numpy(float), bright.glat_deg.to_numpy(float))
    high = ~plane & np.isin(best, spread_patches(geom, N_HIGH_PATCHES))
    t = ts_at_sources(geom, inputs, psf, bright[plane | high].reset_index(drop=True), rd.crossmatch_radius_deg)
    t['band'] = np.where(~is_high_latitude(t.glat_deg, rd.lat_split_deg), f'|b|<{rd.lat_split_deg:g}', f'|b|>{rd.lat_split_deg:g}')
    res = {'runs': [r.name for r in runs], 'min_expected_ts': MIN_EXPECTED_TS, 'radius_deg': rd.crossmatch_radius_deg,
           'n_high_patches': N_HIGH_PATCHES, 'cpu_s': round(time.process_time() - t0, 1), 'by_run': {}}
    for r in runs:
        dl = pd.read_csv(r / 'real_sky' / 'detections.csv')
        m = crossmatch(t, dl, rd.crossmatch_radius_deg, one_to_one=False)
        found = m.idx_ref.to_numpy() >= 0   # one row per source, in order
        res['by_run'][r.name] = {b: summary(t[t.band == b].reset_index(drop=True), found[(t.band == b).to_numpy()])
                                for b in sorted(t.band.unique())}
        t[f'dl_found_{r.name}'] = found
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(t.round(4), Path(out).with_suffix('.csv'))
    atomic_write_text(Path(out), json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == '__main__':
    if len(sys.argv) < 3: sys.exit(__doc__)
    main(sys.argv[1:-1], sys.argv[-1])
