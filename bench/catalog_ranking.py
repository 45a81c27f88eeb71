"""How well each catalogue score ranks detections: cut the |b| > 10° detections at the score above which 98 % of them
have a 4FGL-DR2 counterpart (0.5°), and report the fraction of the bright detections (matched to a 4FGL source with
Flux1000 > 1e-9 ph cm⁻² s⁻¹) the cut keeps. Scores: the detector's Detection_Score (`score`), P_Real (`p_real`) and
the aperture significance Signif_Aperture (`signif_aperture`, computed here from the counts map if absent).

Usage: FERMI_NB_DATA=../shared/data python bench/catalog_ranking.py DETECTIONS_CSV [--name NAME]
       (DETECTIONS_CSV: a run's real_sky/detections.csv or the detections.csv of `fermi-nb detect`)
Saves bench/results/catalog_ranking_<name>.json.
"""
import argparse, json
from pathlib import Path
import numpy as np, pandas as pd

ROOT = Path(__file__).resolve().parent.parent

def kept_at_purity(score, matched, bright, purity=0.98):
    "Fraction of bright detections kept by the lowest score cut whose kept detections are ≥ purity matched (and that cut)."
    order = np.argsort(-score, kind='stable'); m = matched[order].astype(float)
    frac = np.cumsum(m) / np.arange(1, len(m) + 1)
    ok = np.flatnonzero(frac >= purity)
    if not len(ok): return 0.0, float('nan'), 0
    n = ok.max() + 1
    return float(bright[order][:n].sum() / max(bright.sum(), 1)), float(score[order][n - 1]), int(n)

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('detections'); ap.add_argument('--name', default='real573w')
    ap.add_argument('--purity', type=float, default=0.98)
    args = ap.parse_args()
    from fermi_nb.config import load_profile
    from fermi_nb.data import data_path
    from fermi_nb.catalog import load_4fgl, crossmatch
    from fermi_nb.classical import aperture_significance
    profile = load_profile('real573w'); rd = profile.real_data
    det = pd.read_csv(args.detections)
    if 'signif_aperture' not in det:
        det['signif_aperture'] = aperture_significance(np.load(data_path(rd.counts_map)), det['glon_deg'].to_numpy(), det['glat_deg'].to_numpy())
    fgl = load_4fgl(profile=profile)
    m = crossmatch(det, fgl, rd.crossmatch_radius_deg, one_to_one=False)
    j = m['idx_ref'].to_numpy(); matched = j >= 0
    bright = matched & (fgl['Flux1000'].to_numpy()[np.where(matched, j, 0)] > 1e-9)
    high = det['glat_deg'].abs().to_numpy() > rd.lat_split_deg
    out = {'detections': Path(args.detections).name, 'n_det_highb': int(high.sum()), 'n_bright_highb': int(bright[high].sum()),
           'matched_fraction_highb': float(matched[high].mean()), 'purity_cut': args.purity, 'scores': {}}
    for col in ('score', 'p_real', 'signif_aperture'):
        if col not in det: continue
        s = det[col].to_numpy(float)[high]; s = np.where(np.isfinite(s), s, -np.inf)
        kept, cut, n = kept_at_purity(s, matched[high], bright[high], args.purity)
        out['scores'][col] = {'bright_kept': round(kept, 4), 'cut': cut, 'n_kept': n}
    path = ROOT / 'bench' / 'results' / f'catalog_ranking_{args.name}.json'
    path.write_text(json.dumps(out, indent=1)); print(json.dumps(out, indent=1))

if __name__ == '__main__': main()
