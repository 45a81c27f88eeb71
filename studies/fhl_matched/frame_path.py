"""What the celestial → Galactic regrid of the 3FHL map costs a detector, trained with or without the data's pixel path.

The simulated test sky of a matched run is counted twice: (a) on Galactic pixels — sources rendered directly on the
Galactic Nside-64 pixels (as 05_sky simulates them), Poisson noise there; (b) the data's path — the same sources rendered on fine Galactic pixels
(Nside 512) with the same PSF, binned into the celestial Nside-64 pixels of the 3FHL cube, Poisson noise there, then
regridded to Galactic Nside 64 exactly as the real map (61_detect.healpix_counts_in_frame, 16 sub-pixels per pixel).
The trained detector is applied to both and cross-matched with the true sources (flux cuts on the 10 GeV–1 TeV flux,
as for 3FHL). Usage: python studies/fhl_matched/frame_path.py RUN_DIR LABEL OUT_CSV
(LABEL names the detector: e.g. 'trained on Galactic pixels' for a run without the data_path stage); further arguments
key=value override the run's profile (e.g. localisation.threshold_start=6 to compare two runs at one operating point)"""
import sys, json
from pathlib import Path
import numpy as np, pandas as pd, healpy as hp
from fermi_nb.config import load_profile
from fermi_nb.sky import Sky
from fermi_nb.instrument import render_geometry, bin_psf
from fermi_nb.population import band_photon_flux
from fermi_nb.detect import healpix_counts_in_frame
from fermi_nb.realsky import detect_sources
from fermi_nb.localisation import run_localisation_profile
from fermi_nb.miun import load_miun
from fermi_nb.catalog import crossmatch_report, report_headline

FINE_NSIDE = 512   # render resolution of the data path (0.11° pixels, under the > 10 GeV PSF68 of 0.1–0.2°)

def main(run_dir, label, out_csv, overrides=None):
    run_dir = Path(run_dir)
    profile = run_localisation_profile(load_profile(run_dir / 'profile.yaml', overrides or {}), run_dir)
    rd, nside = profile.real_data, profile.nside[0]
    sky = Sky.load(sorted((run_dir / 'simulate' / 'test').glob('sky_*'))[0])
    truth = sky.sources.assign(Flux1000=band_photon_flux(sky.sources, 10.0, 1000.0))   # 3FHL's flux band
    rng = np.random.default_rng(sky.seed + 1000)
    direct = render_geometry(nside, truth['glon_deg'], truth['glat_deg'], truth['counts_bin0'], bin_psf(profile, 0)).render(truth['counts_bin0'])
    training = rng.poisson(direct + sky.diffuse_counts[0]).astype(float)
    # data path: fine Galactic render → celestial Nside 64 bins → Poisson → Galactic Nside 64 (as the real map)
    src = render_geometry(FINE_NSIDE, truth['glon_deg'], truth['glat_deg'], truth['counts_bin0'], bin_psf(profile, 0)).render(truth['counts_bin0'])
    diffuse = hp.ud_grade(sky.diffuse_counts[0].astype(float), FINE_NSIDE, power=-2)   # counts shared over sub-pixels
    fine = (src + diffuse)[None]
    cel, _, _ = healpix_counts_in_frame(fine, np.ones(fine.shape[1], bool), FINE_NSIDE, False, 'galactic', nside, 'icrs')
    cel = rng.poisson(cel[0]).astype(float)[None]
    gal, _, method = healpix_counts_in_frame(cel, np.ones(cel.shape[1], bool), nside, False, 'icrs', nside, 'galactic')
    model = load_miun(run_dir / 'miun' / 'model.keras', profile)
    rows = {}
    for name, counts in (('sky on Galactic pixels', training), ('sky through the data path', gal[0])):
        det, _ = detect_sources([counts], model, profile)
        rep = crossmatch_report(det, truth, rd.crossmatch_radius_deg, rd.lat_split_deg, rd.completeness_flux_ph_cm2_s, plot=False)
        rows[name] = {'detector': label, 'n_det': len(det), 'counts': float(counts.sum()), **report_headline(rep)}
    table = pd.DataFrame.from_dict(rows, orient='index').rename_axis('sky').reset_index()
    print(f"test sky {sky.seed}: {len(truth)} true sources; data path: {method}")
    print(table.round(3).to_string(index=False))
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True); table.to_csv(out_csv, index=False)

if __name__ == '__main__':
    import yaml
    main(sys.argv[1], sys.argv[2], sys.argv[3], {k: yaml.safe_load(v) for k, v in (a.split('=', 1) for a in sys.argv[4:])})
