"""Why the detector misses bright 4FGL-DR2 sources on the real map: every miss with expected TS >= 25, classified.

For a finished real573w run: the 4FGL-DR2 sources the real 2-20 GeV PSF3 map should show at >= 5 sigma (Asimov TS from
`realsky.expected_ts_4fgl`) that have no DL detection within the profile's association radius, each with the flags

  extended            4FGL-DR2 models it as an extended source (Extended_Source_Name)
  brighter neighbour  a 4FGL-DR2 source of higher expected TS within NEIGHBOUR_DEG
  offset detection    the nearest DL detection lies between the association radius and OFFSET_MAX_DEG
  diffuse excess      the counts over the fitted diffuse model in an annulus ANNULUS_DEG around it, 4FGL sources masked,
                      exceed 1 + EXCESS_MIN (structure the templates lack)
  patch edge          even its best patch has it within real_data.flag_edge_px finest pixels of the edge

and a cause = the first flag in that order ('none of these' when none applies). Alongside: whether the TS map
(51b_ts_map, sqrt(TS) >= 5) and the classical search found it, and the completeness of the expected-TS >= 25 sources
per |b| band. Writes results/causes_<run>.csv (one row per miss), results/causes_<run>.json (counts per cause and band)
and results/examples_<run>.png (counts around one example of each cause).

Usage: FERMI_NB_DATA=... python studies/bright_misses/bright_misses.py RUN_DIR [LABEL]
"""
import json, sys
from pathlib import Path
import numpy as np
import pandas as pd
import healpy as hp
from scipy.spatial import cKDTree
from fermi_nb.config import atomic_write_text
from fermi_nb.data import data_path
from fermi_nb.runner import run_profile
from fermi_nb.catalog import load_4fgl
from fermi_nb.geometry import lonlat_to_unit as unit_vectors, deg_of_chord
from fermi_nb.patching import PatchGeometry
from fermi_nb.classical import classical_templates
from fermi_nb.data import real_counts_maps
from fermi_nb.realsky import expected_ts_4fgl, load_ts_map, load_classical
from fermi_nb.tsmap import fitted_background
from fermi_nb.population import R68_PER_SIGMA

MIN_EXPECTED_TS = 25.0
NEIGHBOUR_DEG = 1.0
OFFSET_MAX_DEG = 1.0
ANNULUS_DEG = (0.5, 1.5)
EXCESS_MIN = 0.15
TS_MAP_MIN_SQRT_TS = 5.0
CAUSES = ['extended', 'brighter neighbour', 'offset detection', 'diffuse excess', 'patch edge']
RESULTS = Path(__file__).resolve().parent / 'results'


def nearest(ref_vec, det: pd.DataFrame):
    "Distance [deg] and index of the nearest detection of `det` to every reference position."
    if len(det) == 0: return np.full(len(ref_vec), np.inf), np.full(len(ref_vec), -1)
    dv = unit_vectors(det['glon_deg'], det['glat_deg'])
    chord, j = cKDTree(dv).query(ref_vec)
    return deg_of_chord(chord), j


def main(run, label=None):
    run = Path(run); label = label or run.name
    p = run_profile(run / 'profile.yaml'); rd = p.real_data; r_match = rd.crossmatch_radius_deg
    fgl = load_4fgl(profile=p)
    ets = expected_ts_4fgl(p)   # extended sources with their size (circular Gaussian of the template's r68)
    fgl['expected_ts'], fgl['ext_r68_deg'] = ets['expected_ts'].to_numpy(), R68_PER_SIGMA * ets['ext_sigma_deg'].to_numpy()
    dl = pd.read_csv(run / 'real_sky' / 'detections.csv')
    ts_map, _ = load_ts_map(run); classical, _ = load_classical(run, p)
    v = unit_vectors(fgl['glon_deg'], fgl['glat_deg'])
    d_dl, _ = nearest(v, dl)
    bright = fgl['expected_ts'].to_numpy() >= MIN_EXPECTED_TS
    miss = bright & (d_dl >= r_match)
    # flags
    ext = fgl['ext_r68_deg'].to_numpy() > 0   # 4FGL-DR2 fits it with a spatial template (read_4fgl_extended)
    tree = cKDTree(v); ts = fgl['expected_ts'].to_numpy()
    neigh = np.array([any(ts[j] > ts[i] for j in tree.query_ball_point(v[i], 2 * np.sin(np.radians(NEIGHBOUR_DEG) / 2)) if j != i)
                      for i in range(len(fgl))])
    offset = (d_dl >= r_match) & (d_dl < OFFSET_MAX_DEG)
    counts = real_counts_maps(p)[0]
    mask = np.load(data_path(rd.source_mask)).astype(bool)
    bkg, _ = fitted_background(counts, classical_templates(p), mask)
    nside = hp.npix2nside(len(counts)); excess = np.full(len(fgl), np.nan)
    for i in np.flatnonzero(miss | bright):
        pix = np.setdiff1d(hp.query_disc(nside, v[i], np.radians(ANNULUS_DEG[1])), hp.query_disc(nside, v[i], np.radians(ANNULUS_DEG[0])))
        pix = pix[~mask[pix]]
        if len(pix): excess[i] = counts[pix].sum() / bkg[pix].sum() - 1
    diffuse = np.nan_to_num(excess) > EXCESS_MIN
    _, edge = PatchGeometry.build(p).best_patch(fgl['glon_deg'], fgl['glat_deg'])
    at_edge = edge < rd.flag_edge_px
    flags = np.stack([ext, neigh, offset, diffuse, at_edge], 1)
    cause = np.where(flags.any(1), np.array(CAUSES)[np.argmax(flags, 1)], 'none of these')
    ts_found = nearest(v, ts_map[ts_map['score'] >= TS_MAP_MIN_SQRT_TS])[0] < r_match if ts_map is not None else np.zeros(len(fgl), bool)
    cl_found = nearest(v, classical)[0] < r_match
    high = np.abs(fgl['glat_deg'].to_numpy()) > rd.lat_split_deg
    band = np.where(high, f'|b|>{rd.lat_split_deg:g}', f'|b|<{rd.lat_split_deg:g}')
    # an extended source's detection may sit anywhere on its template: a DL detection within its 68% radius
    in_template = (fgl['ext_r68_deg'].to_numpy() > r_match) & (d_dl < fgl['ext_r68_deg'].to_numpy())
    # the references on the same sources: the TS map as a 5-sigma detector and as its whole list, the classical list
    ts_any = nearest(v, ts_map)[0] < r_match if ts_map is not None else np.zeros(len(fgl), bool)
    refs = {name: {b: round(float(found[bright & (band == b)].mean()), 4) for b in np.unique(band)}
            for name, found in [('DL', d_dl < r_match), (f'TS map sqrt(TS) >= {TS_MAP_MIN_SQRT_TS:g}', ts_found),
                                ('TS map, whole list', ts_any), ('classical, whole list', cl_found)]}
    rows = pd.DataFrame({'Source_Name': fgl['Source_Name'], 'glon_deg': fgl['glon_deg'], 'glat_deg': fgl['glat_deg'], 'band': band,
                         'Flux1000': fgl['Flux1000'], 'expected_ts': ts, 'nearest_dl_deg': d_dl, 'diffuse_excess': excess,
                         **{f'flag_{c.replace(" ", "_")}': flags[:, k] for k, c in enumerate(CAUSES)}, 'cause': cause,
                         'ts_map_found': ts_found, 'classical_found': cl_found,
                         'ext_r68_deg': fgl['ext_r68_deg'], 'dl_in_template': in_template})[miss].sort_values('expected_ts', ascending=False)
    RESULTS.mkdir(exist_ok=True)
    rows.round(4).to_csv(RESULTS / f'causes_{label}.csv', index=False)
    table = rows.groupby(['cause', 'band']).size().unstack(fill_value=0).reindex(CAUSES + ['none of these'], fill_value=0)
    table['all'] = table.sum(1)
    ts_bins = [(25, 50), (50, 100), (100, np.inf)]
    compl = {f'{b} TS {lo:g}-{hi:g}': dict(n=int(((band == b) & (ts >= lo) & (ts < hi)).sum()),
                                         completeness=round(float(np.mean(d_dl[(band == b) & (ts >= lo) & (ts < hi)] < r_match)), 4))
             for b in np.unique(band) for lo, hi in ts_bins}
    res = {'run': Path(run).name, 'n_bright': int(bright.sum()), 'n_missed': int(miss.sum()),
           'completeness_ts25': round(float(1 - miss.sum() / bright.sum()), 4),
           'completeness_ts25_by_band': {b: round(float(1 - (miss & (band == b)).sum() / (bright & (band == b)).sum()), 4) for b in np.unique(band)},
           'completeness_by_ts': compl, 'causes': table.to_dict(orient='index'),
           'flag_counts': {c: int(flags[miss, k].sum()) for k, c in enumerate(CAUSES)},
           'ts_map_finds_missed': int(rows['ts_map_found'].sum()), 'classical_finds_missed': int(rows['classical_found'].sum()),
           'completeness_ts25_references': refs,
           'extended_missed_with_dl_in_template': {b: int((miss & in_template & (band == b)).sum()) for b in np.unique(band)},
           'settings': dict(min_expected_ts=MIN_EXPECTED_TS, neighbour_deg=NEIGHBOUR_DEG, offset_max_deg=OFFSET_MAX_DEG,
                            annulus_deg=ANNULUS_DEG, excess_min=EXCESS_MIN, edge_px=rd.flag_edge_px, match_radius_deg=r_match)}
    atomic_write_text(RESULTS / f'causes_{label}.json', json.dumps(res, indent=1, default=float))
    print(table.to_string()); print(json.dumps({k: res[k] for k in res if k not in ('causes',)}, indent=1, default=float))
    plot_examples(rows, counts, bkg, fgl, dl, ts_map, RESULTS / f'examples_{label}.png')


def plot_examples(rows, counts, bkg, fgl, dl, ts_map, path, half_deg=2.0, reso_arcmin=4.0):
    "√counts around the brightest miss of each cause, with 4FGL-DR2 (circles; red: the miss), DL (+) and TS-map (x) detections."
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    ex = rows.groupby('cause', sort=False).head(1).head(6)
    fig, axes = plt.subplots(2, 3, figsize=(12, 8)); nside = hp.npix2nside(len(counts))
    npx = int(2 * half_deg * 60 / reso_arcmin)
    for ax, (_, r) in zip(axes.flat, ex.iterrows()):
        proj = hp.projector.GnomonicProj(rot=(r.glon_deg, r.glat_deg), xsize=npx, ysize=npx, reso=reso_arcmin)
        img = proj.projmap(counts, lambda x, y, z: hp.vec2pix(nside, x, y, z))
        ax.imshow(np.sqrt(np.clip(img, 0, None)), origin='lower', cmap='magma', extent=(-half_deg, half_deg, -half_deg, half_deg))
        def put(df, **kw):
            if df is None or len(df) == 0: return
            x, y = proj.ang2xy(df['glon_deg'].to_numpy(), df['glat_deg'].to_numpy(), lonlat=True)
            ok = (np.abs(np.degrees(x)) < half_deg) & (np.abs(np.degrees(y)) < half_deg)
            ax.scatter(np.degrees(x[ok]), np.degrees(y[ok]), **kw)
        put(fgl, s=60, facecolors='none', edgecolors='white', lw=0.8, label='4FGL-DR2')
        put(pd.DataFrame([r]), s=160, facecolors='none', edgecolors='red', lw=1.5, label='the miss')
        put(dl, marker='+', s=70, c='cyan', lw=1.3, label='DL')
        put(ts_map[ts_map['score'] >= TS_MAP_MIN_SQRT_TS] if ts_map is not None else None, marker='x', s=50, c='lime', lw=1.1, label='TS map √TS≥5')
        ax.set_title(f"{r.cause}: {r.Source_Name}\nTS_exp {r.expected_ts:.0f}, (l, b) = ({r.glon_deg:.1f}, {r.glat_deg:.1f})", fontsize=8)
        ax.set_xlabel('gnomonic x [deg] (l increases to the left)', fontsize=7); ax.set_ylabel('Δb [deg]', fontsize=7); ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(ex):]: ax.axis('off')
    axes.flat[0].legend(fontsize=6, loc='lower left')
    fig.tight_layout(); fig.savefig(path, dpi=100); plt.close(fig)


if __name__ == '__main__':
    main(*sys.argv[1:3])
