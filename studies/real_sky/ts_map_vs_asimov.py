"""How much of a source's ideal (Asimov) TS does the likelihood TS map recover, on the real map and on a simulated one?

On the real map the TS map's sqrt(TS) runs about 20% below sqrt(expected TS) of the 4FGL-DR2 sources. This script asks
whether that is the data (4FGL-DR2 fluxes, the real diffuse emission) or the method (the TS map on resampled patches
with the effective PSF): it measures the same ratio on a simulated test sky, where the sources, their expected TS and
the background given to the TS map are exactly those of the sky.

- real map: the run's TS-map detections (51b_ts_map) against 4FGL-DR2 with `realsky.expected_ts_4fgl`;
- simulated sky: the TS-map peaks that `sim_ts_map_vs_dl.py` kept in its work directory (the run's first test sky,
  HEALPix Poisson draw, the sky's true diffuse counts as background), stitched with the profile's rule, against the
  true sources and their `expected_ts`.

Each source with expected TS >= 25 at |b| > lat_split_deg is paired with the nearest TS-map detection within the
profile's association radius (real_data.crossmatch_radius_deg, both skies); "isolated" keeps those with no other source
of expected TS > 4 within 1 deg. Reported: median sqrt(TS)/sqrt(expected TS) per expected-TS bin and the fraction found.

Usage: FERMI_NB_DATA=... python studies/real_sky/ts_map_vs_asimov.py RUN_DIR SIM_WORK_DIR SIM_RUN_DIR OUT_JSON
(RUN_DIR: a real573w run with its ts_map stage; SIM_WORK_DIR: sim_ts_map_vs_dl.py's work directory; SIM_RUN_DIR: the run
whose test sky that was.)
"""
import json, sys
from pathlib import Path
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from fermi_nb.config import atomic_write_text
from fermi_nb.runner import run_profile
from fermi_nb.patching import PatchGeometry
from fermi_nb.localisation import candidates_to_sky, stitch
from fermi_nb.localisation_files import read_manifest
from fermi_nb.sky import Sky, sky_dir
from fermi_nb.geometry import lonlat_to_unit, chord_of_deg, is_high_latitude
from fermi_nb.catalog import crossmatch
from fermi_nb.realsky import load_ts_map, expected_ts_4fgl

TS_BINS = [(25, 50), (50, 100), (100, np.inf)]
ISOLATION_DEG, ISOLATION_MIN_TS = 1.0, 4.0


def ratios(sources: pd.DataFrame, det: pd.DataFrame, radius_deg: float, lat_split_deg: float) -> dict:
    "Median sqrt(TS)/sqrt(expected TS) and the fraction found per expected-TS bin, all and isolated, at |b| > lat_split_deg."
    j = crossmatch(sources, det, radius_deg, one_to_one=False).idx_ref.to_numpy()   # nearest detection within the radius
    found = j >= 0
    u_src = lonlat_to_unit(sources.glon_deg.to_numpy(float), sources.glat_deg.to_numpy(float))
    ts_exp = sources.expected_ts.to_numpy(float)
    seen = ts_exp > ISOLATION_MIN_TS
    n_near = np.array([len(x) for x in cKDTree(u_src[seen]).query_ball_point(u_src, chord_of_deg(ISOLATION_DEG))]) - seen
    high = is_high_latitude(sources.glat_deg, lat_split_deg)
    sqrt_ts = np.where(found, det.score.to_numpy(float)[j], np.nan)
    out = {}
    for lo, hi in TS_BINS:
        sel = high & (ts_exp >= lo) & (ts_exp < hi)
        row = {}
        for name, s in (('all', sel), ('isolated', sel & (n_near == 0))):
            r = sqrt_ts[s & found] / np.sqrt(ts_exp[s & found])
            row[name] = dict(n=int(s.sum()), found=round(float(found[s].mean()), 4),
                             median_ratio=round(float(np.median(r)), 4), q16_q84=[round(float(q), 4) for q in np.percentile(r, [16, 84])])
        out[f'TS {lo:g}-{hi:g}'] = row
    return out


def main(run, sim_work, sim_run, out):
    run, sim_run = Path(run), Path(sim_run)
    p = run_profile(run / 'profile.yaml'); rd = p.real_data
    ts_real, _ = load_ts_map(run)
    if ts_real is None: sys.exit(f"{run}: no ts_map stage output (ts_map/ts_map_detections.csv)")
    real = ratios(expected_ts_4fgl(p), ts_real, rd.crossmatch_radius_deg, rd.lat_split_deg)
    ps = run_profile(sim_run / 'profile.yaml'); geom = PatchGeometry.build(ps)
    chunks = sorted(Path(sim_work, 'chunks').glob('chunk_*.csv'))
    if len(chunks) == 0: sys.exit(f"{sim_work}: no TS-map chunks (run sim_ts_map_vs_dl.py first)")
    peaks = pd.concat([pd.read_csv(f) for f in chunks], ignore_index=True)
    ts_sim = stitch(candidates_to_sky(peaks, geom), ps.localisation.stitch_radius_deg, rule=ps.localisation.stitch_rule)
    test = read_manifest(sim_run)['splits']['test'][0]
    sky = Sky.load(sky_dir(sim_run / 'simulate' / 'test', test['sky_seed']))
    sim = ratios(sky.sources, ts_sim, rd.crossmatch_radius_deg, rd.lat_split_deg)
    res = {'real_run': run.name, 'sim_run': sim_run.name, 'sim_sky_seed': int(test['sky_seed']), 'n_sim_patches_peaks': len(chunks),
           'radius_deg': rd.crossmatch_radius_deg, 'lat_split_deg': rd.lat_split_deg,
           'isolation': dict(radius_deg=ISOLATION_DEG, min_expected_ts=ISOLATION_MIN_TS),
           'real_map_vs_4fgl': real, 'simulated_sky_vs_truth': sim}
    atomic_write_text(Path(out), json.dumps(res, indent=1))
    for name, r in (('real map', real), ('simulated sky', sim)):
        for k, v in r.items():
            print(f"{name:14s} {k:11s} all: n={v['all']['n']:4d} found {v['all']['found']:.3f} median ratio {v['all']['median_ratio']:.3f}"
                  f" | isolated: n={v['isolated']['n']:4d} median ratio {v['isolated']['median_ratio']:.3f}")


if __name__ == '__main__':
    if len(sys.argv) != 5: sys.exit(__doc__)
    main(*sys.argv[1:])
