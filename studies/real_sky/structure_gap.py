"""Does the real sky's small-scale diffuse structure explain the real-plane purity gap? (issue 8)

The run's simulated test sky is rebuilt twice from the same seed — smooth fitted templates (the profile's
diffuse model with `diffuse.structure_smooth_deg` off) and with the data-driven structure of 04_diffuse switched on
(σ_s from the command line) — Poisson-sampled on the HEALPix pixels with the same draw seed (the real-map path),
and the run's MIUN detects on both. Cross-matched with the true sources at the profile's radius and |b| split
(the headline columns of 52_real_sky), the 'matched' columns say how often the detector calls a diffuse lump a source.

Usage: FERMI_NB_DATA=... python studies/real_sky/structure_gap.py RUN [SIGMA_DEG=0.5] [OUT_JSON]
"""
import json, sys, time
from pathlib import Path
import numpy as np
from fermi_nb.config import profile_from_dict, atomic_write_text
from fermi_nb.runner import run_profile
from fermi_nb.sky import simulate_sky, Sky
from fermi_nb.population import band_photon_flux
from fermi_nb.miun import load_miun
from fermi_nb.realsky import detect_sources, GOALS_DL
from fermi_nb.catalog import crossmatch_report, report_headline

DRAW_SEED = 0   # Poisson draw of both skies (the same for both)


def main(run, sigma_deg='0.5', out=None):
    run = Path(run); t0 = time.time()
    profile = run_profile(run / "profile.yaml")
    test_seed = Sky.load(sorted((run / 'simulate' / 'test').glob('sky_*'))[0]).seed
    model = load_miun(run / 'miun', profile)
    rd = profile.real_data; res = {'run': str(run), 'test_sky_seed': int(test_seed), 'sigma_deg': float(sigma_deg),
                                   'run_structure_smooth_deg': profile.diffuse.structure_smooth_deg, 'skies': {}}
    for name, sig in (('smooth templates', None), (f'with structure sigma_s={float(sigma_deg):g} deg', float(sigma_deg))):
        d = profile.to_dict(); d['diffuse'] = {**d['diffuse'], 'structure_smooth_deg': sig}
        sky = simulate_sky(profile_from_dict(d), test_seed)
        truth = sky.sources.assign(Flux1000=band_photon_flux(sky.sources, 1.0, 100.0))
        counts = [np.random.default_rng(DRAW_SEED).poisson(sky.counts(k)).astype(float) for k in range(profile.n_bins)]
        det, _ = detect_sources(counts, model, profile)
        h = report_headline(crossmatch_report(det, truth, rd.crossmatch_radius_deg, rd.lat_split_deg,
                                              rd.completeness_flux_ph_cm2_s, plot=False))
        res['skies'][name] = {'n_det': len(det), **{k: round(float(h[k]), 4) for k in GOALS_DL}}
        print(f'{name}: {res["skies"][name]}  ({time.time() - t0:.0f} s)', flush=True)
    atomic_write_text(out or Path(__file__).resolve().parent / 'results' / f'structure_gap_{run.name}.json', json.dumps(res, indent=1))


if __name__ == '__main__':
    main(*sys.argv[1:4])
