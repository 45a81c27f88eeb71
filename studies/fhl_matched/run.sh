#!/usr/bin/env bash
# The 3FHL acceptance run of the matched detector: derive a profile from the 3FHL counts and exposure cubes, simulate
# matched skies, train, apply, cross-match with 3FHL next to the classical and TS-map references and the expected-TS limit.
# Usage (from the project root, with FERMI_NB_DATA set): studies/fhl_matched/run.sh RUN_DIR
set -euo pipefail
RUN=${1:?run directory}
D=${FERMI_NB_DATA:?set FERMI_NB_DATA}
fermi-nb catalog --counts "$D/fermi_3fhl/fermi_3fhl_counts_cube_hpx.fits.gz" \
                 --exposure "$D/fermi_3fhl/fermi_3fhl_exposure_cube_hpx.fits.gz" \
                 --isotropic fermi_3fhl/iso_P8R2_SOURCE_V6_v06.txt \
                 --reference catalogs/gll_psch_v13.fit.gz \
                 --event-type FRONT+BACK --groups 3 --name fhl_matched3 --out "$RUN"
