"Profile validation with real bad profile files."
import pytest
from fermi_nb.config import load_profile, list_profiles, ProfileError

GOOD = (__import__('fermi_nb.config', fromlist=['PROFILE_DIR']).PROFILE_DIR / 'lat6.yaml').read_text()

def write(tmp_path, text, name='bad.yaml'):
    p = tmp_path / name; p.write_text(text); return p

def test_shipped_profiles_load():
    assert {'quick', 'lat6', 'real573w'} <= set(list_profiles())
    for name in list_profiles(): load_profile(name)

@pytest.mark.parametrize('old,new,message', [
    ('nside: [128, 128, 256, 512, 1024, 1024]', 'nside: [128, 128, 256, 512, 1024, 1024]\nn_yeers: 3', "unknown key 'n_yeers'"),
    ('nside: [128, 128, 256, 512, 1024, 1024]', 'nside: [128, 128, 256, 500, 1024, 1024]', 'nside[3]=500 is not a power of two'),
    ('nside: [128, 128, 256, 512, 1024, 1024]', 'nside: [128, 128, 256, 512, 1024, 1024]\nn_years: 10.5', "'n_years' must be an integer"),
    ('[1.0, 2.0], [2.0, 7.0]', '[1.0, 2.0], [1.5, 7.0]', 'energy_bins_gev[3]'),
    ('npix: [32, 32, 64, 128, 128, 128]', 'npix: [32, 32, 64, 16, 128, 128]', 'patches.npix[3]=16'),
    ('npix: [32, 32, 64, 128, 128, 128]', 'npix: [32, 32, 64, 128, 128]', "'patches.npix' has 5 entries"),
    ('instrument:\n', 'instrument:\n  event_type: FRONTAL\n', "instrument.event_type='FRONTAL'"),
    ('patches:\n', 'patches:\n  mask_radius_px: five\n', "'patches.mask_radius_px' must be a number"),
    ('patches:\n', 'patches:\n  grid_nside: 6\n', 'patches.grid_nside=6 is not a power of two'),
])
def test_bad_profile_files(tmp_path, old, new, message):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ProfileError) as err: load_profile(path)
    assert message in str(err.value)

def test_extends_and_overrides(tmp_path):
    path = write(tmp_path, 'extends: quick\nname: tiny\ntraining: {epochs: 1}\n', 'tiny.yaml')
    p = load_profile(path)
    assert p.name == 'tiny' and p.training.epochs == 1 and p.nside == load_profile('quick').nside
    assert load_profile('quick', {'patches.mask_radius_px': 3}).patches.mask_radius_px == 3.0
    with pytest.raises(ProfileError, match="unknown key 'training.epoch'"):
        load_profile('quick', {'training.epoch': 1})

def test_missing_profile_named():
    with pytest.raises(ProfileError, match="unknown profile 'lat7'"): load_profile('lat7')

def test_shipped_profiles_extend_lat6():
    "gc and real573w take lat6's LAT data setup through `extends:`; their own values and names win over lat6's."
    from fermi_nb.config import read_yaml, PROFILE_DIR
    lat6 = load_profile('lat6')
    for name in ('gc', 'real573w'):
        assert read_yaml(PROFILE_DIR / f'{name}.yaml')['extends'] == 'lat6'
        p = load_profile(name)
        assert p.name == name and p.instrument.event_type == 'PSF3' != lat6.instrument.event_type
        assert (p.instrument.aeff_file, p.instrument.exposure_map, p.diffuse.model, p.diffuse.counts_map) == \
               (lat6.instrument.aeff_file, lat6.instrument.exposure_map, 'p6v11', lat6.diffuse.counts_map)
    assert load_profile('real573w').diffuse.isotropic_file is None and lat6.diffuse.isotropic_file is not None
    assert load_profile('gc').patches.mask_min_expected_ts == lat6.patches.mask_min_expected_ts == 25

def test_write_csv_atomic(tmp_path):
    "The atomic CSV writer (one home with atomic_write): creates the directory, no index column, no temporary file left."
    import pandas as pd
    from fermi_nb.config import write_csv_atomic
    path = write_csv_atomic(pd.DataFrame({'glon_deg': [1.5, 2.0], 'glat_deg': [-3.0, 4.25]}), tmp_path / 'a' / 'b.csv')
    assert path == tmp_path / 'a' / 'b.csv' and path.read_text().splitlines() == ['glon_deg,glat_deg', '1.5,-3.0', '2.0,4.25']
    assert [p.name for p in path.parent.iterdir()] == ['b.csv']
