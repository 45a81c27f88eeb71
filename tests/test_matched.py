"""Matched detector (62_matched): the profile derived from the 3FHL counts and exposure cubes matches the files, validates
and round-trips through YAML; bad files are refused with one line naming them. No training here."""
import json, os
from pathlib import Path
import numpy as np, pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault('FERMI_NB_DATA', str(ROOT.parent / 'shared' / 'data'))
from fermi_nb.data import have_data, data_path, DataError
from fermi_nb.config import load_profile, profile_from_dict, validate_profile
from fermi_nb.matched import derive_profile, energy_groups, irf_files, catalog_cli

COUNTS, EXPOSURE = 'fermi_3fhl/fermi_3fhl_counts_cube_hpx.fits.gz', 'fermi_3fhl/fermi_3fhl_exposure_cube_hpx.fits.gz'
ISO, FHL = 'fermi_3fhl/iso_P8R2_SOURCE_V6_v06.txt', 'catalogs/gll_psch_v13.fit.gz'
needs_3fhl = pytest.mark.skipif(not all(have_data(k) for k in (COUNTS, EXPOSURE, ISO, FHL)), reason='3FHL files absent')

@pytest.fixture(scope='module')
def derived(tmp_path_factory):
    out = tmp_path_factory.mktemp('matched')
    prof = derive_profile(data_path(COUNTS), data_path(EXPOSURE), out, n_groups=3, isotropic_file=ISO, reference_catalog=FHL)
    return prof, out, json.loads((out / 'inputs' / 'derivation.json').read_text())

@needs_3fhl
def test_derived_profile_matches_the_files(derived):
    prof, out, rec = derived
    assert prof.n_bins == 3 and prof.nside == [64, 64, 64]
    assert prof.energy_bins_gev[0][0] == pytest.approx(10.0) and prof.energy_bins_gev[-1][1] == pytest.approx(2000.0)
    assert sum(rec['input_bins_per_group'], []) == list(range(17))        # every EBOUNDS bin in one group
    assert sum(rec['counts_per_group']) == pytest.approx(696519, abs=1)   # the celestial → Galactic regrid conserves counts
    assert rec['frame_in'] == 'icrs' and rec['event_selection'] == 'P8R2_SOURCE FRONT+BACK'
    assert prof.instrument.psf_file == 'irf/psf_P8R3_SOURCE_V2_FB.fits' and 'stands for' in rec['irf_note']
    # exposure: the profile's per-group exposure equals the cube's spectrum-weighted mean within 2 %
    assert np.allclose(rec['exposure_model_cm2_s'], rec['exposure_mean_cm2_s'], rtol=0.02)
    assert 2e11 < prof.instrument.exposure_cm2_s < 5e11
    # diffuse: the package's model, scaled, carries the fitted templates' counts within 20 % in every group
    ratio = np.divide(rec['diffuse_model_counts_unmasked'], rec['diffuse_fitted_counts_unmasked'])
    assert np.all(np.abs(ratio - 1) < 0.2), ratio
    counts = np.load(prof.real_data.counts_map)
    assert counts.shape == (3, 12 * 64 ** 2) and counts.sum() == pytest.approx(696519, abs=1)
    assert len(rec['counts_file']['sha256']) == 64    # the user's file is hashed into the record

@needs_3fhl
def test_derived_profile_round_trips(derived):
    prof, out, _ = derived
    assert validate_profile(prof) is not None
    assert load_profile(out / 'matched_profile.yaml') == prof
    assert profile_from_dict(prof.to_dict()) == prof

@needs_3fhl
def test_3fhl_reference_layout(derived):
    from fermi_nb.catalog import load_4fgl
    from fermi_nb.population import read_4fgl
    prof, _, _ = derived
    ref = load_4fgl(profile=prof)
    assert len(ref) == 1556 and ref['Flux1000'].between(1e-12, 1e-7).all()   # 3FHL's 10 GeV–1 TeV flux
    assert len(read_4fgl(prof.real_data.catalog)) == 1556                    # its spectra render (expected-TS limit)
    assert prof.real_data.catalog_name == '3FHL' and not prof.real_data.dl_goals   # reports name the reference; no 4FGL goals
    assert prof.training.n_train_skies == load_profile('matched').training.n_train_skies   # the recipe of the base profile

def test_energy_groups_and_irfs():
    e = np.geomspace(10, 2000, 18); edges = np.column_stack([e[:-1], e[1:]])
    for n in (1, 2, 3, 5):
        g = energy_groups(edges, n)
        assert len(g) == n and sum(g, []) == list(range(17))
    with pytest.raises(ValueError, match='18 requested'): energy_groups(edges, 18)
    assert irf_files('P8R3_ULTRACLEANVETO_V3', 'PSF3')[0].endswith('_PSF.fits')
    with pytest.raises(ValueError, match='no PSF file'): irf_files('P8R3_SOURCE', 'PSF9')

def test_bad_files_refused(tmp_path, capsys):
    bad = tmp_path / 'garbage_counts.fits'; bad.write_bytes(b'not a fits file')
    with pytest.raises(DataError, match='garbage_counts.fits.*counts cube'):
        derive_profile(bad, bad, tmp_path / 'out')
    wrong = tmp_path / 'one_map.npy'; np.save(wrong, np.ones(12 * 16 ** 2))   # a map without energy bins
    with pytest.raises(DataError, match='one_map.npy.*EBOUNDS'):
        derive_profile(wrong, wrong, tmp_path / 'out')
    rc = catalog_cli(['--counts', str(tmp_path / 'absent.fits'), '--exposure', str(bad), '--out', str(tmp_path / 'run')])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and 'absent.fits' in err and len(err.splitlines()) == 1

@needs_3fhl
def test_bad_exposure_refused(tmp_path):
    wrong = tmp_path / 'exposure_wrong.npy'; np.save(wrong, np.ones(12 * 64 ** 2))   # no energy nodes
    with pytest.raises(DataError, match='exposure_wrong.npy.*energy nodes'):
        derive_profile(data_path(COUNTS), wrong, tmp_path / 'out')
