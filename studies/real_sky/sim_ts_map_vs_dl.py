"""The likelihood TS map against the detector on a whole simulated test sky, at equal purity against the truth.

For a finished real573w run: the run's first simulated test sky, Poisson-sampled on the HEALPix pixels (the way the
real map is; `realsky.simulated_test_counts`, draw seed 0), goes through both searches on all patches of the
unrotated grid — the run's MIUN with the real-sky chain (`realsky.detect_sources`, its test-time augmentation and
operating point) and the TS map of 51b_ts_map (`tsmap.ts_map_detections`: effective PSF, peaks with sqrt(TS) >= 3, the
profile's stitching) with the sky's *true* diffuse counts as background (the TS map's best case: the detector is
given no background model). Both lists are scanned by their own score (the detector's probability — these detections
are not characterised — and sqrt(TS)) and compared at equal purity per |b| band and flux cut, against the true sources
(Flux1000 from their spectra) with the real sky's rule (any counterpart within the profile's radius), with binomial
errors. CPU seconds of both (time.process_time, all threads) are measured in the same process.

Usage: FERMI_NB_DATA=... python studies/real_sky/sim_ts_map_vs_dl.py RUN_DIR [WORK_DIR] [OUT_JSON]
(WORK_DIR keeps the TS-map chunks so an interrupted run resumes; default RUN_DIR/sim_ts_map.)
"""
import json, sys, time, warnings, logging
from pathlib import Path
import numpy as np
from fermi_nb.config import atomic_write_text
from fermi_nb.runner import run_profile
from fermi_nb.patching import PatchGeometry
from fermi_nb.localisation_files import run_localisation_profile
from fermi_nb.baseline import equal_purity_table
from fermi_nb.realsky import simulated_test_counts, detect_sources, equal_purity_wide
from fermi_nb.tsmap import map_patch_inputs, ts_map_detections

DRAW_SEED = 0        # Poisson draw of the HEALPix-path test sky (as completeness_by_ts.py)
MIN_SQRT_TS = 3.0    # TS-map peak threshold (51b_ts_map's default)
MIN_DISTANCE_PX = 2


def main(run, work=None, out=None):
    warnings.filterwarnings('ignore'); logging.getLogger('gammapy').setLevel(logging.ERROR)
    run = Path(run); p = run_profile(run / 'profile.yaml')
    work = Path(work) if work else run / 'sim_ts_map'
    sim, truth, counts = simulated_test_counts(run, p, DRAW_SEED)
    geom = PatchGeometry.build(p)
    res = {'run': run.name, 'sky_seed': int(sim.seed), 'draw_seed': DRAW_SEED, 'n_true': len(truth), 'n_patches': geom.n_patches,
           'tta_symmetries': p.localisation.tta_symmetries}
    inputs = map_patch_inputs(geom, counts, [sim.diffuse_counts[k] for k in range(p.n_bins)], [sim.exposure[k] for k in range(p.n_bins)])
    ts, cpu, peaks = ts_map_detections(geom, inputs, p, MIN_SQRT_TS, MIN_DISTANCE_PX, work_dir=work, progress=True)
    res.update(ts_map_cpu_s=round(float(cpu.sum()), 1), ts_map_n_det=len(ts), ts_map_min_sqrt_ts=MIN_SQRT_TS)
    print(f"TS map: {len(ts)} detections, {res['ts_map_cpu_s']} CPU s (TS maps and peaks; chunks read back count as recorded)", flush=True)
    if not (run / 'state' / 'localisation.json').is_file():
        print('the run has no localisation yet (operating point, MIUN): TS map only'); return
    from fermi_nb.miun import load_miun
    p = run_localisation_profile(p, run)   # the run's operating point
    model = load_miun(run / 'miun', p)
    t0 = time.process_time()
    dl, _ = detect_sources(counts, model, p, geom)
    res['dl_cpu_s'] = round(time.process_time() - t0, 1); res['dl_n_det'] = len(dl)
    res['prob_threshold'] = p.localisation.prob_threshold
    print(f"DL: {len(dl)} detections, {res['dl_cpu_s']} CPU s", flush=True)
    res['cpu_ratio_ts_map_over_dl'] = round(res['ts_map_cpu_s'] / res['dl_cpu_s'], 1)
    ep, _ = equal_purity_table({'DL': dl, 'TS map': ts}, truth, p)
    print(equal_purity_wide(ep, (0.9, 0.95, 0.98), errors=True).T.to_string())
    res['equal_purity'] = ep.round({c: 5 for c in ('completeness', 'completeness_err', 'matched_fraction', 'min_score')}).to_dict(orient='records')
    atomic_write_text(out or Path(__file__).resolve().parent / 'results' / f'sim_ts_map_vs_dl_{run.name}.json', json.dumps(res, indent=1, default=float))


if __name__ == '__main__':
    main(*sys.argv[1:4])
