"""The MIUN training code under tf.distribute, without GPUs: MirroredStrategy over two logical CPU devices, and
MultiWorkerMirroredStrategy with two worker processes on loopback (TF_CONFIG). Each run is a fresh process, since the
logical devices and the cluster must be set before TensorFlow starts."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from fermi_nb import miun

# one short toy training; prints one JSON line with the strategy and the history
TRAIN = """
import json, os, sys
import tensorflow as tf
from fermi_nb import miun
strategy = miun.get_strategy()
_, hist = miun.train_miun('quick', None, sys.argv[1], epochs=2, n_toy=(128, 64), batch_size=8, seed=3)
print('RESULT', json.dumps(dict(multi_worker=isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
                                mirrored=isinstance(strategy, tf.distribute.MirroredStrategy), replicas=strategy.num_replicas_in_sync,
                                history=hist[['loss', 'acc_a', 'val_loss', 'val_acc_a']].to_dict('list'))), flush=True)
"""


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ('TF_CONFIG', miun.CPU_REPLICAS_ENV)}
    return {**env, 'TF_CPP_MIN_LOG_LEVEL': '2', 'PYTHONUNBUFFERED': '1', **extra}


def _result(proc_out: str) -> dict:
    lines = [l for l in proc_out.splitlines() if l.startswith('RESULT ')]
    assert lines, proc_out[-3000:]
    return json.loads(lines[-1][len('RESULT '):])


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks: s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks: s.close()
    return ports


def test_cpu_replicas_variable_is_checked(monkeypatch):
    monkeypatch.delenv('TF_CONFIG', raising=False)
    monkeypatch.setenv(miun.CPU_REPLICAS_ENV, 'two')
    with pytest.raises(ValueError, match=miun.CPU_REPLICAS_ENV):
        miun.get_strategy()


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    out = subprocess.run([sys.executable, '-c', TRAIN, str(tmp_path / 'run')], capture_output=True, text=True,
                         env=_env(**{miun.CPU_REPLICAS_ENV: '2'}), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    r = _result(out.stdout)
    assert r['mirrored'] and r['replicas'] == 2
    h = r['history']
    assert len(h['loss']) == 2 and np.all(np.isfinite(h['loss'] + h['val_loss']))
    assert h['loss'][1] < h['loss'][0], h          # it learns: training loss falls from epoch 1 to 2
    assert (tmp_path / 'run' / 'model.keras').exists() and (tmp_path / 'run' / 'state.json').exists()


def test_multi_worker_on_loopback(tmp_path):
    ports = _free_ports(2)
    cluster = {'worker': [f'127.0.0.1:{p}' for p in ports]}
    procs = [subprocess.Popen([sys.executable, '-c', TRAIN, str(tmp_path / f'worker{i}')], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env=_env(TF_CONFIG=json.dumps({'cluster': cluster, 'task': {'type': 'worker', 'index': i}})))
             for i in range(2)]
    outs = []
    try:
        for p in procs: outs.append(p.communicate(timeout=600))
    finally:
        for p in procs: p.kill()
    for p, (o, e) in zip(procs, outs): assert p.returncode == 0, e[-3000:]
    r0, r1 = (_result(o) for o, _ in outs)
    assert r0['multi_worker'] and r1['multi_worker'] and r0['replicas'] == r1['replicas'] == 2
    # synchronous data-parallel training: both workers hold the same weights, so they log the same numbers
    for k in ('loss', 'val_loss', 'val_acc_a'):
        assert np.allclose(r0['history'][k], r1['history'][k], rtol=1e-4, atol=1e-6), (k, r0, r1)
    assert np.all(np.isfinite(r0['history']['loss']))
    # only the chief (worker 0) writes checkpoints and the history
    assert (tmp_path / 'worker0' / 'model.keras').exists() and (tmp_path / 'worker0' / 'history.csv').exists()
    assert not (tmp_path / 'worker1' / 'model.keras').exists() and not (tmp_path / 'worker1' / 'history.csv').exists()
