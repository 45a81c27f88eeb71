"""Classical reference on the Galactic-centre cube: gammapy TS map with the gll_iem_v07 + isotropic background.

    nice -n 5 .venv/bin/python studies/galactic_center/gc_classical.py [--event-type PSF3] [--min-sqrt-ts 5] [--min-distance-px 3]

The PSF3 counts cube summed into the gc profile's three energy bins, the gtpsf PSF and exposure of the region centre
(spatially constant exposure), the interstellar model cut-out and the CLEAN PSF3 isotropic spectrum as the background
model whose two normalisations are fitted to the cube (Poisson likelihood, no point sources in the model: the
normalisations absorb part of the sources), then gammapy.estimators.TSMapEstimator (power law Γ = 2.2 point-source
kernel, all energies together) and local maxima of sqrt(TS) ≥ --min-sqrt-ts at least --min-distance-px apart.
The local maxima are compared with 4FGL-DR2 with fermi_nb.galactic_center.compare_with_4fgl, same region and match
radius as studies/galactic_center/gc_train_apply.py. Writes studies/galactic_center/results/gc_classical.json and gc_classical_detections.csv.
"""
import os, sys, json, time, argparse, datetime, warnings
os.environ.setdefault('FERMI_NB_DATA', 'DATA_DIR')
from pathlib import Path
import numpy as np, pandas as pd
import astropy.units as u

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / 'results'

from fermi_nb.config import load_profile
from fermi_nb.data import data_path
from fermi_nb.config import atomic_write_text
from fermi_nb.catalog import load_4fgl
from fermi_nb.galactic_center import GC_DATA_KEYS, RegionPatch, region_sources, region_4fgl, compare_with_4fgl, read_gtpsf


def combined_psf_map(event_types):
    "gtpsf PSF maps of several event types combined: exposure-weighted mean PSF, summed exposure."
    from gammapy.irf import PSFMap
    maps = [PSFMap.read(data_path(GC_DATA_KEYS['psf'][ev]), format='gtpsf') for ev in event_types]
    out = maps[0].copy()
    x = [m.exposure_map.data for m in maps]
    out.psf_map.data = sum(m.psf_map.data * xi for m, xi in zip(maps, x)) / sum(x)
    out.exposure_map.data = sum(x)
    return out


def classical_dataset(profile, event_type='PSF3'):
    "gammapy MapDataset of the cube in the profile's energy bins with the fitted diffuse + isotropic background."
    from gammapy.maps import Map, MapAxis
    from gammapy.irf import PSFMap, EDispKernelMap
    from gammapy.datasets import MapDataset
    from gammapy.modeling import Fit
    from gammapy.modeling.models import (SkyModel, TemplateSpatialModel, PowerLawNormSpectralModel, Models,
                                         create_fermi_isotropic_diffuse_model)
    types = event_type.split('+')             # 'PSF2+PSF3': summed counts and exposure, exposure-weighted PSF
    counts = Map.read(data_path(GC_DATA_KEYS['counts'][types[0]]))
    for ev in types[1:]: counts.data = counts.data + Map.read(data_path(GC_DATA_KEYS['counts'][ev])).data
    edges = np.r_[[lo for lo, _ in profile.energy_bins_gev], profile.energy_bins_gev[-1][1]] * u.GeV
    axis = MapAxis.from_energy_edges(edges, name='energy')
    counts = counts.resample_axis(axis)
    axis = counts.geom.axes['energy']   # the resampled axis itself (float32 EBOUNDS edges), for the edisp kernel
    e_true = MapAxis.from_energy_bounds(edges[0], edges[-1], nbin=24, name='energy_true')
    ex = 0
    for ev in types:
        t = read_gtpsf(GC_DATA_KEYS['psf'][ev])
        ex = ex + np.exp(np.interp(np.log(e_true.center.to_value('GeV')), np.log(t.energy_gev), np.log(t.exposure_cm2_s)))
    exposure = Map.from_geom(counts.geom.to_image().to_cube([e_true]), unit='cm2 s')
    exposure.data[...] = ex[:, None, None]
    psf = combined_psf_map(types)
    edisp = EDispKernelMap.from_diagonal_response(energy_axis=axis, energy_axis_true=e_true)
    iem = Map.read(data_path(GC_DATA_KEYS['iem']))
    diffuse = SkyModel(PowerLawNormSpectralModel(reference=10 * u.GeV), TemplateSpatialModel(iem, normalize=False), name='diffuse')
    iso = create_fermi_isotropic_diffuse_model(data_path(GC_DATA_KEYS['iso'][types[-1]]), interp_kwargs={'fill_value': None})  # shape; norm fitted
    ds = MapDataset(counts=counts, exposure=exposure, psf=psf, edisp=edisp, name='gc')
    ds.models = Models([diffuse, iso])
    diffuse.spectral_model.tilt.frozen = False
    res = Fit().run([ds])
    norms = dict(diffuse_norm=float(diffuse.spectral_model.norm.value), diffuse_tilt=float(diffuse.spectral_model.tilt.value),
                 iso_norm=float(iso.spectral_model.model2.norm.value) if hasattr(iso.spectral_model, 'model2') else None,
                 fit_success=bool(res.success))
    return ds, norms


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--event-type', default='PSF3', help="'PSF3', 'PSF2' or 'PSF2+PSF3' (datasets fitted separately, then stacked)")
    ap.add_argument('--min-sqrt-ts', type=float, default=5.0)
    ap.add_argument('--min-distance-px', type=int, default=2)
    ap.add_argument('--match-radius', type=float, default=0.2)
    ap.add_argument('--edge-margin-px', type=float, default=3)
    a = ap.parse_args(argv)
    warnings.simplefilter('ignore')
    from gammapy.estimators import TSMapEstimator
    from gammapy.estimators.utils import find_peaks
    from gammapy.modeling.models import SkyModel, PointSpatialModel, PowerLawSpectralModel
    profile = load_profile('gc')
    t0 = time.time()
    ds, norms = classical_dataset(profile, a.event_type)
    t_fit = time.time() - t0
    model = SkyModel(PowerLawSpectralModel(index=profile.instrument.spectral_index), PointSpatialModel())
    est = TSMapEstimator(model=model, kernel_width=1.0 * u.deg, energy_edges=[profile.energy_bins_gev[0][0], profile.energy_bins_gev[-1][1]] * u.GeV,
                         selection_optional=[], n_jobs=1)
    maps = est.run(ds)
    t_ts = time.time() - t0 - t_fit
    peaks = find_peaks(maps['sqrt_ts'], threshold=a.min_sqrt_ts, min_distance=a.min_distance_px)
    geom = maps['sqrt_ts'].geom.to_image()          # find_peaks gives pixel x, y (and ICRS ra/dec): use the pixels
    l, b = geom.pix_to_coord((np.asarray(peaks['x'], float), np.asarray(peaks['y'], float))) if len(peaks) else ([], [])
    det = pd.DataFrame({'glon_deg': np.asarray(l, float), 'glat_deg': np.asarray(b, float),
                        'sqrt_ts': np.asarray(peaks['value'] if len(peaks) else [], float)})
    print(f"max sqrt(TS) {np.nanmax(maps['sqrt_ts'].data):.2f}, {len(peaks)} peaks >= {a.min_sqrt_ts}")
    patch = RegionPatch(profile, 0.0, 0.0)
    det = region_sources(det, patch, 0.0)
    summary, fgl_m, table = compare_with_4fgl(det, region_4fgl(profile, patch, 0.0), a.match_radius, a.edge_margin_px)
    print(summary, norms, 'background/counts', float(ds.npred().data.sum() / ds.counts.data.sum()))
    tag = ('' if a.event_type == 'PSF3' else '_' + a.event_type.replace('+', '_plus_')) + ('' if a.min_sqrt_ts == 5 else f'_ts{a.min_sqrt_ts:g}')
    det.to_csv(RESULTS / f'gc_classical{tag}_detections.csv', index=False)
    table.to_csv(RESULTS / f'gc_classical{tag}_completeness.csv', index=False)
    rec = dict(command='nice -n 5 .venv/bin/python studies/galactic_center/gc_classical.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
               date=datetime.datetime.now().isoformat(timespec='seconds'), event_type=a.event_type, min_sqrt_ts=a.min_sqrt_ts,
               method=f'gammapy TSMapEstimator (PL index {profile.instrument.spectral_index}, kernel 1 deg, '
                      f'{profile.energy_bins_gev[0][0]}-{profile.energy_bins_gev[-1][1]} GeV summed), background gll_iem_v07 + iso fitted, '
                      f'peaks sqrt(TS) >= {a.min_sqrt_ts}, >= {a.min_distance_px} px apart',
               background_fit=norms, comparison=summary, timing_s=dict(fit=round(t_fit, 1), tsmap=round(t_ts, 1)))
    atomic_write_text(RESULTS / f'gc_classical{tag}.json', json.dumps(rec, indent=1, default=float))
    print(json.dumps(rec, indent=1, default=float))


if __name__ == '__main__':
    main()
