"""Run chosen runner stages of an existing run (e.g. the references and the real-sky stage after a stage notebook's check failed).
Usage: python studies/fhl_matched/stages.py RUN_DIR classical,ts_map,real_sky"""
import sys
from fermi_nb.runner import run_pipeline, STAGES
run_dir = sys.argv[1]; names = sys.argv[2].split(',')
run_pipeline(f'{run_dir}/profile.yaml', run_dir, stages=[s for s in STAGES if s.name in names])
