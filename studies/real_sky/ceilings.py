"""Where the real573w goals sit (issue 8): a perfect detector of the 4FGL-DR2 sources the map shows above an expected TS.

Every 4FGL-DR2 source gets its Asimov TS in the profile's model sky (`realsky.expected_ts_4fgl`); `limit_table` gives the
fraction above each report flux threshold reaching TS 25 / 16 / 9 (no localisation), and `localisation_ceiling` marks
exactly those sources with the training targets and runs the profile's localisation and stitching, cross-matched with
the whole 4FGL-DR2 at the profile's radius (what a perfect 5σ / 4σ / 3σ network would report).

Usage: FERMI_NB_DATA=... python studies/real_sky/ceilings.py [PROFILE] [OUT_JSON]
"""
import json, sys
from pathlib import Path
from fermi_nb.config import load_profile, atomic_write_text
from fermi_nb.realsky import expected_ts_4fgl, localisation_ceiling, limit_table, GOALS_DL
from fermi_nb.catalog import report_headline

TS_LEVELS = (25.0, 16.0, 9.0)   # 5σ, 4σ, 3σ


def main(profile_name='real573w', out=None):
    p = load_profile(profile_name)
    ts = expected_ts_4fgl(p)
    limits = limit_table(ts, p, TS_LEVELS)
    print(limits.round(3).to_string())
    res = {'profile': p.name, 'prob_threshold': p.localisation.prob_threshold,
           'ideal_detector': {k: {c: round(v, 4) for c, v in row.items()} for k, row in limits.iterrows()},
           'perfect_detector_localised': {}}
    for t in TS_LEVELS:
        h = report_headline(localisation_ceiling(ts, p, min_expected_ts=t)['radius'])
        res['perfect_detector_localised'][f'expected TS >= {t:g}'] = {k: round(h[k], 4) for k in GOALS_DL}
        print(f'perfect detector, expected TS >= {t:g}:', res['perfect_detector_localised'][f'expected TS >= {t:g}'])
    atomic_write_text(out or Path(__file__).resolve().parent / 'results' / f'{p.name}_ceilings.json', json.dumps(res, indent=1))


if __name__ == '__main__':
    main(*sys.argv[1:3])
