"""Tests of fermi_nb.miun: architecture per profile, input pipeline, metrics, saving/loading, resuming."""
import json
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import numpy as np
import pandas as pd
import pytest

from fermi_nb.config import load_profile, ProfileError
from fermi_nb import miun
from fermi_nb.miun import (build_miun, input_levels, unet_depth, toy_patches, make_dataset, augment_dihedral, square_symmetry,
                           normalise_counts, pixel_scores, confusion_scores, miun_metrics, SegmentationLoss, LOSSES,
                           train_miun, load_miun, save_miun, saved_profile, predict_patches, ProfileMismatchError,
                           open_patch_source, train_cli)


@pytest.mark.parametrize('name, levels, depth, bottleneck', [
    ('quick', [1, 0, 0], 2, 8),
    ('lat6', [2, 2, 1, 0, 0, 0], 3, 16),
    ('real573w', [0], 3, 8),
])
def test_shapes(name, levels, depth, bottleneck):
    p = load_profile(name)
    assert input_levels(p) == levels and unet_depth(p) == depth
    m = build_miun(p)
    assert [i.name for i in m.inputs] == [f'bin{k}' for k in range(p.n_bins)]
    assert [tuple(i.shape) for i in m.inputs] == [(None, n, n, 1) for n in p.patches.npix]
    assert tuple(m.output.shape) == (None, p.finest_npix, p.finest_npix, 1)
    assert m.get_layer('bottleneck_conv1').output.shape[1] == bottleneck
    assert m.get_layer('bottleneck_conv2').output.shape[-1] == p.training.base_filters << depth
    # every coarse bin enters right after the pooling of its resolution
    for k, (n, lev) in enumerate(zip(p.patches.npix, levels)):
        if lev:
            merged = m.get_layer(f'inputs_level{lev}').input
            assert any(t.shape[1] == n for t in merged)
    counts = [np.random.default_rng(k).poisson(2.0, (3, n, n)).astype(np.float32) for k, n in enumerate(p.patches.npix)]
    prob = predict_patches(m, counts, batch_size=2)
    assert prob.shape == (3, p.finest_npix, p.finest_npix) and prob.dtype == np.float32
    assert np.all((prob > 0) & (prob < 1))


def test_bad_bottleneck():
    with pytest.raises(ProfileError, match='bottleneck_npix'):
        unet_depth(load_profile('lat6', {'training.bottleneck_npix': 64}))
    with pytest.raises(ProfileError, match='bottleneck_npix'):
        unet_depth(load_profile('quick', {'training.bottleneck_npix': 12}))


def test_normalise_counts():
    x = np.array([0., 1., 10.], np.float32)
    assert np.allclose(normalise_counts(x), np.log1p(x))
    assert np.allclose(normalise_counts(x, 'anscombe'), 2 * np.sqrt(x + 0.375))
    with pytest.raises(ValueError, match='training.normalisation'):
        normalise_counts(x, 'sqrt')


def test_augmentation_consistency():
    rng = np.random.default_rng(0)
    n = 64
    fine = rng.poisson(0.5, (n, 16, 16)).astype(np.float32)
    ys, xs = rng.integers(0, 16, n), rng.integers(0, 16, n)
    fine[np.arange(n), ys, xs] += 1000
    coarse = fine.reshape(n, 8, 2, 8, 2).sum((2, 4))
    mask = np.zeros((n, 16, 16), np.uint8); mask[np.arange(n), ys, xs] = 1
    (f2, c2), m2 = augment_dihedral([fine, coarse], mask, rng)
    # coarse input is still the block sum of the transformed fine input; the mask still marks the bright pixel
    assert np.array_equal(c2, f2.reshape(n, 8, 2, 8, 2).sum((2, 4)))
    assert np.array_equal(m2.astype(bool), f2 > 500)
    assert np.array_equal(np.sort(f2.reshape(n, -1), 1), np.sort(fine.reshape(n, -1), 1))
    # the 8 symmetries are distinct and a rotation by 90° four times is the identity
    a = np.arange(16.).reshape(4, 4)
    assert len({square_symmetry(a, c).tobytes() for c in range(8)}) == 8
    assert np.array_equal(square_symmetry(square_symmetry(square_symmetry(square_symmetry(a, 1), 1), 1), 1), a)


def test_dataset_augments_inputs_and_mask_together():
    p = load_profile('quick')
    a, m = toy_patches(p, 48, np.random.default_rng(1))
    ds = make_dataset((a, m), p, training=True, seed=3, batch_size=16, poisson=False)
    for x, y in ds:
        # without Poisson noise the finest bins are smooth images whose peaks sit under the mask
        y = y.numpy()[..., 0]
        assert x['bin0'].shape[1:] == (16, 16, 1) and y.shape[1:] == (32, 32)
        img = x['bin2'].numpy()[..., 0]
        bkg = np.median(img, axis=(1, 2), keepdims=True)
        has = y.reshape(len(y), -1).max(1) > 0
        peak = (img - bkg).reshape(len(img), -1).argmax(1)
        assert y.reshape(len(y), -1)[np.arange(len(y)), peak][has].mean() > 0.8
    # the un-augmented validation pass reproduces the masks in order
    ds_val = make_dataset((a, m), p, training=False, batch_size=16)
    assert np.array_equal(np.concatenate([y.numpy()[..., 0] for _, y in ds_val]), m)


def test_metrics_on_hand_made_arrays():
    t = np.zeros((2, 5, 5)); t[0, :2, :2] = 1; t[1, 4, 4] = 1                 # 5 positives of 50
    p = np.zeros((2, 5, 5)); p[0, :2, :2] = 0.8; p[0, 0, 0] = 0.3; p[1, 0, 0] = 0.6  # TP 3, FN 2, FP 1
    sc = pixel_scores(t, p)
    assert np.isclose(sc['acc'], 47 / 50) and np.isclose(sc['acc_0'], 45 / 50)
    assert np.isclose(sc['acc_a'], (47 / 50 - 45 / 50) / (5 / 50)) and np.isclose(sc['acc_a'], (3 - 1) / 5)
    assert np.isclose(sc['dice'], 6 / 9) and np.isclose(sc['precision'], 3 / 4) and np.isclose(sc['recall'], 3 / 5)
    for metric in miun_metrics():
        metric.update_state(t[:1, ..., None], p[:1, ..., None]); metric.update_state(t[1:, ..., None], p[1:, ..., None])
        assert np.isclose(float(metric.result()), sc[metric.name], atol=1e-6), metric.name
        metric.reset_state(); assert float(metric.result()) == 0
    assert confusion_scores(0, 10, 0, 0)['acc_a'] == 0   # no positives: defined as 0, not NaN
    assert confusion_scores(1, 0, 5, 0)['acc_a'] < 0      # more false than true positives


@pytest.mark.parametrize('kind', LOSSES)
def test_losses_prefer_the_truth(kind):
    y = np.zeros((2, 8, 8, 1), np.float32); y[0, 2:4, 2:4] = 1
    loss = SegmentationLoss(kind, pos_weight=15.)
    assert float(loss(y, np.clip(y, 0.05, 0.95))) < float(loss(y, np.full_like(y, 0.3)))
    assert SegmentationLoss.from_config(loss.get_config()).kind == kind


def test_toy_patches():
    p = load_profile('quick')
    a, m, src = toy_patches(p, 200, np.random.default_rng(4), return_sources=True)
    assert [x.shape for x in a] == [(200, n, n) for n in p.patches.npix] and m.shape == (200, 32, 32)
    assert 0.02 < m.mean() < 0.06
    r = src.iloc[0]
    assert m[int(r.patch_id), int(round(r.y_px)), int(round(r.x_px))] == 1


def test_save_load_and_profile_mismatch(tmp_path):
    p = load_profile('quick')
    m = build_miun(p)
    path = save_miun(m, tmp_path / 'm.keras', p)
    assert (tmp_path / 'm.profile.yaml').exists() and saved_profile(path).to_dict() == p.to_dict()
    m2 = load_miun(path, 'quick')
    x = [np.ones((1, n, n), np.float32) for n in p.patches.npix]
    assert np.allclose(predict_patches(m, x), predict_patches(m2, x))
    with pytest.raises(ProfileMismatchError, match=r"'quick'.*'lat6'.*patches.npix"):
        load_miun(path, 'lat6')
    with pytest.raises(ProfileMismatchError, match='nside'):
        load_miun(path, load_profile('quick', {'nside': [64, 128, 256]}))
    with pytest.raises(ProfileMismatchError, match='training.normalisation'):
        load_miun(path, load_profile('quick', {'training.normalisation': 'anscombe'}))
    # inputs in the wrong order are refused, naming the bin
    with pytest.raises(ValueError, match='bin0'):
        predict_patches(m, x[::-1])


def test_resume(tmp_path):
    p = load_profile('quick', {'training.batch_size': 32})
    kw = dict(n_toy=(64, 32), seed=1)
    _, h1 = train_miun(p, None, tmp_path / 'run', epochs=1, loss='dice_bce', **kw)
    assert len(h1) == 1 and (tmp_path / 'run' / 'model.keras').exists()
    state = json.loads((tmp_path / 'run' / 'state.json').read_text())
    assert state['epochs_done'] == 1 and state['loss'] == 'dice_bce'
    model, h2 = train_miun(p, None, tmp_path / 'run', epochs=2, loss='dice_bce', **kw)
    assert list(h2.epoch) == [0, 1] and np.isclose(h2.val_loss[0], h1.val_loss[0])
    csv = pd.read_csv(tmp_path / 'run' / 'history.csv')
    assert list(csv.epoch) == [0, 1] and {'val_acc_a', 'val_dice', 'val_precision', 'val_recall', 'lr'} <= set(csv.columns)
    assert json.loads((tmp_path / 'run' / 'state.json').read_text())['epochs_done'] == 2
    # a finished run returns at once; another loss in the same directory is refused
    mtime = (tmp_path / 'run' / 'last.keras').stat().st_mtime_ns
    _, h3 = train_miun(p, None, tmp_path / 'run', epochs=2, loss='dice_bce', **kw)
    assert len(h3) == 2 and (tmp_path / 'run' / 'last.keras').stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match="loss 'dice_bce'"):
        train_miun(p, None, tmp_path / 'run', epochs=3, loss='focal', **kw)
    with pytest.raises(ProfileMismatchError):
        train_miun('lat6', None, tmp_path / 'run', epochs=3, loss='dice_bce', **kw)
    assert not list((tmp_path / 'run').glob('.*tmp*'))


def test_patch_store_source(tmp_path):
    from fermi_nb import patching
    p = load_profile('quick', {'patches.max_patches': 24})
    geom = patching.PatchGeometry.build(p, cache_dir=False)
    skies = [patching.synthetic_sky(p, n_sources=300, seed=s) for s in (1, 2)]
    path = patching.write_patch_store(tmp_path / 'patches.h5', skies, geom, p, progress=False)
    src = open_patch_source(path, p)
    assert len(src) == 48
    ds = make_dataset(path, p, training=True, seed=0, batch_size=16)
    batches = list(ds)
    assert len(batches) == 3 and batches[0][0]['bin1'].shape[1:] == (32, 32, 1)
    assert sum(len(y) for _, y in batches) == 48
    with pytest.raises(ProfileMismatchError, match='patch store'):
        open_patch_source(path, load_profile('quick', {'patches.mask_radius_px': 3}))
    # training splits the store by sky: sky 1 is validation
    tr, va = miun._split_by_sky(src, p)
    assert set(src.sky_index[tr]) == {0} and set(src.sky_index[va]) == {1}


def test_dataset_draws_healpix_noise(tmp_path):
    """patches.noise='healpix': batches are the store's HEALPix-path draws (Poisson per map pixel, then cut)."""
    from fermi_nb import patching
    p = load_profile('quick', {'patches.max_patches': 24, 'patches.noise': 'healpix'})
    geom = patching.PatchGeometry.build(p, cache_dir=False)
    skies = [patching.synthetic_sky(p, n_sources=300, seed=s) for s in (1, 2)]
    path = patching.write_patch_store(tmp_path / 'patches.h5', skies, geom, p, progress=False)
    src = open_patch_source(path, p)
    assert src.noise == 'healpix'
    batches = list(make_dataset(path, p, training=False, seed=5, batch_size=16))
    rng = np.random.default_rng([5, 2**31])
    for b, (x, y) in enumerate(batches):
        want = src.sample(np.arange(b * 16, min((b + 1) * 16, len(src))), rng)
        for k in range(p.n_bins): np.testing.assert_array_equal(x[f'bin{k}'].numpy()[..., 0], want[k])
    # smoother than patch-pixel noise: variance per patch pixel well below the Asimov mean
    lam = src.asimov(np.arange(16))[1].astype(float); x1 = batches[0][0]['bin1'].numpy()[..., 0]
    assert ((x1 - lam) ** 2).sum() / lam.sum() < 0.5
    # a store written without HEALPix maps cannot serve a 'healpix' profile
    p_patch = load_profile('quick', {'patches.max_patches': 24})
    path2 = patching.write_patch_store(tmp_path / 'patches_patch.h5', skies, patching.PatchGeometry.build(p_patch, cache_dir=False),
                                       p_patch, progress=False)
    with pytest.raises(ValueError, match='holds no HEALPix maps'):
        make_dataset(path2, p, training=True)


def test_cli_rejects_unknown_loss():
    with pytest.raises(SystemExit):
        train_cli(['--out', 'x', '--loss', 'nope'])


def test_predict_patches_test_time_augmentation():
    "Averaging over all 8 symmetries makes the detector exactly equivariant: a rotated/flipped patch gives the rotated/flipped map."
    from fermi_nb.miun import predict_patches
    import keras
    p = load_profile("quick"); keras.utils.set_random_seed(3); model = build_miun(p)
    rng = np.random.default_rng(0)
    x = [rng.poisson(2.0, (3, n, n)).astype(np.float32) for n in p.patches.npix]
    one = predict_patches(model, x)
    assert one.shape == (3, p.patches.npix[-1], p.patches.npix[-1])
    avg = predict_patches(model, x, n_symmetries=8)
    manual = np.mean([np.rot90(np.flip(predict_patches(model, [square_symmetry(a, c) for a in x]), -1) if c >= 4
                               else predict_patches(model, [square_symmetry(a, c) for a in x]), -(c % 4), axes=(-2, -1)) for c in range(8)], 0)
    assert np.allclose(avg, manual, atol=1e-6) and not np.allclose(avg, one, atol=1e-4)   # an untrained net is not equivariant by itself
    for c in (1, 5, 6):
        assert np.allclose(predict_patches(model, [square_symmetry(a, c) for a in x], n_symmetries=8), square_symmetry(avg, c), atol=1e-5)
    assert np.allclose(predict_patches(model, x, n_symmetries=1), one)
    with pytest.raises(ValueError, match='n_symmetries'): predict_patches(model, x, n_symmetries=9)
    with pytest.raises(ProfileError, match='tta_symmetries'): load_profile('quick', {'localisation.tta_symmetries': 0})
