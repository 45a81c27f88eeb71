#!/usr/bin/env bash
# The test command (`make test`): module in sync with notebooks, notebook tests, plain tests.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
# Real data: use ../shared/data when it exists and nothing else was given.
if [ -z "${FERMI_NB_DATA:-}" ] && [ -d ../shared/data ]; then export FERMI_NB_DATA="$(cd ../shared/data && pwd)"; fi
echo "== FERMI_NB_DATA=${FERMI_NB_DATA:-<unset: real-data tests skip>}"

echo "== nbdev_export: fermi_nb/ must be what the notebooks export"
before=$(git status --porcelain -- fermi_nb || true)
$BIN/nbdev_export
after=$(git status --porcelain -- fermi_nb || true)
if [ "$before" != "$after" ]; then
  echo "ERROR: nbdev_export changed fermi_nb/ — the module is out of sync with nbs/. Run 'make export' and commit."
  git status --porcelain -- fermi_nb; git diff --stat -- fermi_nb; exit 1
fi

echo "== nbdev_test (notebooks, quick profile): one fresh process per notebook, two at a time"
# One process per notebook: matplotlib/IPython display hooks left by one notebook break the next one in a
# shared worker process (healpy.mollview calls pyplot.ioff()).
failed=0
ls nbs/*.ipynb | xargs -P 2 -I{} sh -c 't0=$(date +%s); if '"$BIN"'/nbdev_test --path "{}" > "/tmp/nbdev_test_$(basename {}).log" 2>&1; then echo "ok   {} $(( $(date +%s) - t0 )) s"; else echo "FAIL {}"; cat "/tmp/nbdev_test_$(basename {}).log" | grep -v "WARNING | Kernel" | tail -40; exit 1; fi' || failed=1
if [ "$failed" != 0 ]; then echo "ERROR: notebook tests failed"; exit 1; fi

echo "== pytest"
$BIN/python -m pytest -q tests
