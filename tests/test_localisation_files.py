"The localisation stage's files: float16 probability maps that keep their binarisation, detections written atomically, the readers' errors."
import numpy as np
import pandas as pd
import pytest
from fermi_nb.localisation_files import to_float16, save_prob_maps, load_prob_maps, detections_path, prob_maps_path
from fermi_nb.config import write_csv_atomic

def test_float16_keeps_binarisation():
    near = np.float32(0.5) + np.linspace(-3e-4, 3e-4, 201, dtype=np.float32)
    q = to_float16(near, 0.5)
    assert q.dtype == np.float16 and np.array_equal(q.astype(np.float32) >= 0.5, near >= 0.5)
    assert np.abs(q.astype(np.float32) - near).max() < 5e-4

def test_prob_maps_and_detections_files(tmp_path):
    p = np.random.default_rng(0).random((4, 8, 8)).astype(np.float32)
    path = save_prob_maps(prob_maps_path(tmp_path, 'test', 12), p, np.array([3, 4, 5, 6]), keep_threshold=0.5)
    assert path.name == 'sky_00012_prob.npz' and path.parent == tmp_path / 'localisation' / 'test'
    q, ids = load_prob_maps(path)
    assert ids.tolist() == [3, 4, 5, 6] and np.array_equal(q >= 0.5, p >= 0.5) and np.abs(q - p).max() < 5e-4
    d = write_csv_atomic(pd.DataFrame({'glon_deg': [1.0], 'glat_deg': [2.0]}), detections_path(tmp_path, 'train', 3))
    assert d.name == 'sky_00003_detections.csv' and pd.read_csv(d).glat_deg[0] == 2.0
    assert not [f for f in d.parent.iterdir() if f.name.startswith('.')]
    with pytest.raises(ValueError, match='split'): detections_path(tmp_path, 'validation', 1)
    with pytest.raises(FileNotFoundError): load_prob_maps(tmp_path / 'nope.npz')


def test_readers_name_the_missing_file(tmp_path):
    from fermi_nb.localisation_files import read_manifest, run_localisation_profile
    from fermi_nb.config import load_profile
    with pytest.raises(FileNotFoundError, match='run the localisation stage first'): read_manifest(tmp_path)
    with pytest.raises(FileNotFoundError, match='operating_point.json'):
        run_localisation_profile(load_profile('quick', {'localisation.threshold_rule': 'validation'}), tmp_path)
