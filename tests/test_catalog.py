"Catalogue writer and cross-match: round trip with units, 4FGL naming and coordinate conventions, match edge cases."
import os
from pathlib import Path
import numpy as np, pandas as pd, pytest
import astropy.units as u
from astropy.coordinates import SkyCoord

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault('FERMI_NB_DATA', str(ROOT.parent / 'shared' / 'data'))
from fermi_nb.config import load_profile
from fermi_nb.data import have_data
from fermi_nb.catalog import (jname, unique_names, catalog_table, write_catalog, read_catalog, crossmatch,
                              crossmatch_report, load_4fgl, synthetic_detections, COLUMN_UNITS, CLASS_COLUMNS)

FGL = 'catalogs/gll_psc_v27.fit'
needs_4fgl = pytest.mark.skipif(not have_data(FGL), reason='4FGL-DR2 not present')

@pytest.fixture(scope='module')
def profile(): return load_profile('quick')

@pytest.fixture(scope='module')
def fgl(): return load_4fgl(profile='real573w')

def test_round_trip_fits_and_csv(tmp_path, profile):
    det = synthetic_detections(50, np.random.default_rng(0), profile)
    paths = write_catalog(det, tmp_path / 'out', profile, {'models': {'miun': 'v1'}, 'note': 'test'}, name='t')
    assert set(paths) == {'fits', 'csv', 'reg'} and all(p.exists() for p in paths.values())
    assert not list((tmp_path / 'out').glob('*.tmp'))                       # no temporary file left behind
    cat = read_catalog(paths['fits'])
    for c, un in COLUMN_UNITS.items(): assert cat[c].unit == un, c
    ref = catalog_table(det, profile)
    for c in ref.colnames:
        if ref[c].dtype.kind == 'f': np.testing.assert_allclose(np.asarray(cat[c]), np.asarray(ref[c]), rtol=1e-12, equal_nan=True)
        else: assert list(cat[c]) == list(ref[c]), c
    order = np.argsort(det['glon_deg'].to_numpy())
    np.testing.assert_allclose(np.sort(np.asarray(cat['GLON'])), det['glon_deg'].to_numpy()[order])
    np.testing.assert_allclose(np.sort(np.asarray(cat['Flux1000'])), np.sort(10 ** det['flux_log10_s1'].to_numpy()), rtol=1e-12)
    assert np.isnan(cat['Conf_68_Radius']).all()                               # optional column absent → NaN
    assert cat.meta['PROVENANCE']['models.miun'] == 'v1' and 'name: quick' in cat.meta['PROFILE_YAML']
    csv = read_catalog(paths['csv'])
    assert list(csv['Source_Name']) == list(cat['Source_Name']) and csv['Flux1000'].unit == u.ph / u.cm**2 / u.s
    np.testing.assert_allclose(np.asarray(csv['RAJ2000']), np.asarray(cat['RAJ2000']), rtol=1e-7)
    reg = paths['reg'].read_text().splitlines()
    assert reg[3] == 'galactic' and len(reg) == 4 + len(det) and all('text={1FNB J' in line for line in reg[4:])

def test_class_flags_and_missing_columns(profile):
    det = pd.DataFrame({'glon_deg': [10.0, 200.0], 'glat_deg': [5.0, 45.0], 'p_real': [0.9, 0.2],
                        'p_BLL': [0.1, 0.7], 'p_PWN+SNR': [0.8, 0.1], 'x_px': [0.5, 15.0], 'y_px': [15.0, 15.0]})
    t = catalog_table(det, profile)
    t = t[np.argsort(t['GLON'])]
    assert list(t['Pred_Class']) == ['PWN+SNR', 'FAKE'] and np.isnan(t['P_PSR']).all()   # P_Real 0.2 < 0.5 → FAKE
    # row 0: |b|<10 (1) + edge (4) + no flux/r95 (8); row 1: low p_real (2) + incomplete (8)
    assert list(t['Flags']) == [1 + 4 + 8, 2 + 8]
    t2 = catalog_table(pd.DataFrame({'glon_deg': [1.0], 'glat_deg': [50.0]}), profile)
    assert t2['Pred_Class'][0] == '' and np.isnan(t2['Flux1000'][0]) and t2['Flags'][0] == 8

def test_bad_input_names_the_problem(profile, tmp_path):
    with pytest.raises(ValueError, match='glat_deg'): catalog_table(pd.DataFrame({'glon_deg': [1.0]}), profile)
    with pytest.raises(ValueError, match='invalid'): catalog_table(pd.DataFrame({'glon_deg': [1.0], 'glat_deg': [95.0]}), profile)
    with pytest.raises(FileNotFoundError, match='nope'): read_catalog(tmp_path / 'nope.fits')
    with pytest.raises(FileNotFoundError, match='not/there'):
        write_catalog(pd.DataFrame({'glon_deg': [1.0], 'glat_deg': [2.0]}), tmp_path, profile, {'data_files': {'not/there.npy': None}})

def test_naming_truncates():
    assert jname([0.0983], [-73.922], '4FGL')[0] == '4FGL J0000.3-7355'
    assert jname([0.0149], [0.0099])[0] == '1FNB J0000.0+0000'      # 0.0596 min → 0000.0, 0.59' → 00
    assert jname([14.99], [-0.999])[0] == '1FNB J0059.9-0059'      # rounding would give J0100.0-0100
    assert jname([360.0], [89.9999])[0] == '1FNB J0000.0+8959'
    assert list(unique_names(['X', 'X', 'X'])) == ['X', 'Xa', 'Xb']

@needs_4fgl
def test_naming_agrees_with_4fgl(fgl):
    ours = jname(fgl['RAJ2000'], fgl['DEJ2000'], '4FGL')
    agree = np.mean([n.startswith(o) for n, o in zip(fgl['Source_Name'], ours)])
    assert agree > 0.99

@needs_4fgl
def test_coordinates_consistent_with_4fgl(fgl, profile):
    sub = fgl.sample(300, random_state=1)
    t = catalog_table(sub[['glon_deg', 'glat_deg']].reset_index(drop=True), profile)
    c = SkyCoord(ra=np.asarray(t['RAJ2000']) * u.deg, dec=np.asarray(t['DEJ2000']) * u.deg, frame='fk5')
    ref = SkyCoord(ra=sub['RAJ2000'].to_numpy() * u.deg, dec=sub['DEJ2000'].to_numpy() * u.deg, frame='fk5')
    sep = c[:, None].separation(ref[None, :]).deg.min(axis=1)
    assert np.max(sep) < 1e-3                                   # our GLON/GLAT → RA/Dec reproduces 4FGL's to < 4"
    back = c.galactic
    np.testing.assert_allclose(back.b.deg, np.asarray(t['GLAT']), atol=1e-7)

def test_crossmatch_two_refs_within_radius():
    cat = pd.DataFrame({'glon_deg': [10.0], 'glat_deg': [20.0]})
    ref = pd.DataFrame({'glon_deg': [10.3, 10.1], 'glat_deg': [20.0, 20.0]})
    m = crossmatch(cat, ref, 0.5)
    assert m['idx_ref'][0] == 1 and np.isclose(m['sep_deg'][0], 0.1 * np.cos(np.radians(20)), rtol=1e-3)

def test_crossmatch_one_to_one_and_none():
    cat = pd.DataFrame({'glon_deg': [50.0, 50.15, 120.0], 'glat_deg': [0.0, 0.0, -30.0]})
    ref = pd.DataFrame({'glon_deg': [50.1], 'glat_deg': [0.0]})
    m = crossmatch(cat, ref, 0.5)
    assert list(m['idx_ref']) == [-1, 0, -1] and np.isnan(m['sep_deg'][[0, 2]]).all()   # closer one wins, each ref once
    m2 = crossmatch(cat, ref, 0.5, one_to_one=False)
    assert list(m2['idx_ref']) == [0, 0, -1]
    assert (crossmatch(cat, ref.iloc[:0], 0.5)['idx_ref'] == -1).all() and crossmatch(cat.iloc[:0], ref, 0.5).empty
    with pytest.raises(ValueError, match='rule'): crossmatch(cat, ref, 0.5, rule='nearest')

def test_crossmatch_across_ra_zero_and_pole():
    # equatorial positions on both sides of RA = 0/360, converted to Galactic
    c = SkyCoord(ra=[359.9, 0.1, 180.0] * u.deg, dec=[10.0, 10.0, 89.95] * u.deg, frame='fk5').galactic
    r = SkyCoord(ra=[0.05, 359.98, 0.0] * u.deg, dec=[10.0, 10.0, 89.95] * u.deg, frame='fk5').galactic
    cat = pd.DataFrame({'glon_deg': c.l.deg, 'glat_deg': c.b.deg}); ref = pd.DataFrame({'GLON': r.l.deg, 'GLAT': r.b.deg})
    m = crossmatch(cat, ref, 0.2)
    assert list(m['idx_ref']) == [1, 0, 2]
    assert np.allclose(m['sep_deg'][:2], [0.08 * np.cos(np.radians(10)), 0.05 * np.cos(np.radians(10))], rtol=1e-3)
    # Galactic l = 0/360 directly
    m = crossmatch(pd.DataFrame({'glon_deg': [359.9]}).assign(glat_deg=0.0), pd.DataFrame({'glon_deg': [0.1], 'glat_deg': [0.0]}), 0.25)
    assert m['idx_ref'][0] == 0 and np.isclose(m['sep_deg'][0], 0.2)

def test_crossmatch_error_rule():
    cat = pd.DataFrame({'glon_deg': [0.0, 30.0], 'glat_deg': [40.0, 40.0], 'r95_deg': [0.1, 0.1]})
    ref = pd.DataFrame({'glon_deg': [0.0, 30.0], 'glat_deg': [40.3, 40.6], 'r95_deg': [0.2, 2.0]})
    m = crossmatch(cat, ref, 0.5, rule='error', pixel_deg=0.46, cap_deg=0.5)
    # pair 0: 0.3 < sqrt(0.1²+0.2²+0.23²)=0.32 → match; pair 1: 0.6 > cap 0.5 → none
    assert list(m['idx_ref']) == [0, -1]
    m = crossmatch(cat, ref, 0.5, rule='error', pixel_deg=0.0, cap_deg=1.0)
    assert list(m['idx_ref']) == [-1, 1]                          # 0.3 > sqrt(0.1²+0.2²)=0.22; 0.6 < min(2.0, 1.0)

@needs_4fgl
def test_report_on_4fgl_itself(fgl):
    rep = crossmatch_report(fgl[['glon_deg', 'glat_deg']], fgl, 0.1, 10.0, (1e-9, 3e-10), plot=False)
    assert (rep['completeness']['completeness'] == 1).all() and (rep['detections']['matched_fraction'] == 1).all()
    assert rep['completeness']['n_4fgl'].tolist() == [512, 1677, 660, 1400]
    assert rep['unmatched'].empty

def test_pred_class_agrees_with_p_real(profile):
    "A row with P_Real 0.785 whose probability is split over four real classes is a real source, not FAKE."
    det = pd.DataFrame({'glon_deg': [10.0, 20.0, 30.0], 'glat_deg': [40.0, 41.0, 42.0], 'p_real': [0.785, 0.3, 0.6],
                        'p_BLL': [0.2, 0.1, 0.3], 'p_FSRQ': [0.19, 0.1, 0.1], 'p_PSR': [0.2, 0.05, 0.1], 'p_PWN+SNR': [0.195, 0.05, 0.1],
                        'p_FAKE': [0.215, 0.7, 0.4], 'cls_pred': ['PSR', 'FAKE', 'FAKE']})
    t = catalog_table(det, profile); t = t[np.argsort(t['GLON'])]
    assert list(t['Pred_Class']) == ['PSR', 'FAKE', 'BLL']      # decision kept when real; FAKE iff P_Real < 0.5
    assert 'Class' not in t.colnames and 'CLASS1' not in t.colnames   # no column claims 4FGL's association meaning

def test_fits_conventions(tmp_path, profile):
    "TCOMM on every column, what Flux1000 integrates, text strings, no machine paths, DS9 readable without warnings."
    import warnings
    from astropy.io import fits
    from astropy.table import Table
    det = synthetic_detections(20, np.random.default_rng(3), profile)
    paths = write_catalog(det, tmp_path, profile, {'models': {'miun': f'{tmp_path}/run/miun/model.keras sha256:abc'},
                                                   'run_dir': '/home/someone/runs/r1'}, name='c')
    assert [p.name for p in paths.values()] == ['c.fits', 'c.csv', 'c.reg']
    with fits.open(paths['fits']) as h:
        hdr = h['CATALOG'].header
        for i in range(1, hdr['TFIELDS'] + 1): assert hdr.get(f'TCOMM{i}'), hdr[f'TTYPE{i}']
        names = [hdr[f'TTYPE{i}'] for i in range(1, hdr['TFIELDS'] + 1)]
        assert '1-1000 GeV' in hdr[f"TCOMM{names.index('Flux1000') + 1}"]
        assert not any(n in names for n in ('Conf_95_SemiMajor', 'CLASS1', 'ASSOC1'))
        text = repr(hdr) + ' '.join(map(str, h['PROVENANCE'].data['VALUE']))
    assert str(tmp_path) not in text and '/home/someone' not in text and 'model.keras sha256:abc' in text
    # FITS stores ASCII; read_catalog (and astropy's Table.read with character_as_bytes=False) give text, never b'...'
    for t in (read_catalog(paths['fits']), Table.read(paths['fits'], hdu='CATALOG', character_as_bytes=False)):
        assert t['Source_Name'].dtype.kind == 'U' and t['Pred_Class'].dtype.kind == 'U'
    assert "b'" not in paths['csv'].read_text()
    import regions
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        reg = regions.Regions.read(paths['reg'], format='ds9')
    assert len(reg) == len(det) and reg[0].meta['text'].startswith('1FNB J')

def test_gammapy_loader(tmp_path, profile):
    from fermi_nb.catalog import catalog_sources
    det = synthetic_detections(10, np.random.default_rng(4), profile)
    paths = write_catalog(det, tmp_path, profile, {}, name='g')
    pos, models = catalog_sources(paths['fits'])
    cat = read_catalog(paths['fits'])
    assert len(pos) == len(models) == 10 and pos.frame.name == 'galactic'
    m = models[0]; row = cat[cat['Source_Name'] == m.name.replace('_', ' ')][0]
    assert m.spectral_model.integral(1 * u.GeV, 1000 * u.GeV).to_value('cm-2 s-1') == pytest.approx(row['Flux1000'], rel=1e-6)
    assert m.spatial_model.position.galactic.separation(SkyCoord(row['GLON'] * u.deg, row['GLAT'] * u.deg, frame='galactic')).deg < 1e-6
