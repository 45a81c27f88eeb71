"settings.ini and environment.yml must name the same packages (with compatible pins)."
import configparser, re, shlex
from pathlib import Path
import yaml

ROOT = Path(__file__).resolve().parent.parent

def _name(spec: str) -> str:
    return re.split(r'[<>=!~\[ ]', spec.strip(), maxsplit=1)[0].lower().replace('_', '-')

def _pins(specs):
    return {_name(s): re.sub(r'\[.*?\]', '', s).replace(' ', '')[len(_name(s)):] for s in specs}

def settings_requirements():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini')
    d = cfg['DEFAULT']
    return shlex.split(d['requirements']) + shlex.split(d['dev_requirements'])

def environment_requirements():
    env = yaml.safe_load((ROOT / 'environment.yml').read_text())
    specs = []
    for dep in env['dependencies']:
        if isinstance(dep, dict): specs += dep['pip']
        else: specs.append(dep)
    return [s for s in specs if _name(s) not in ('python', 'pip')]

# conda splits dask[distributed] into two packages
def _normalise(names): return {('dask' if n == 'distributed' else n) for n in names}

def test_same_packages():
    ini = _normalise(_pins(settings_requirements()))
    env = _normalise(_pins(environment_requirements()))
    assert ini == env, f"only in settings.ini: {sorted(ini - env)}; only in environment.yml: {sorted(env - ini)}"

def test_same_pins():
    ini, env = _pins(settings_requirements()), _pins(environment_requirements())
    for name, pin in ini.items():
        if name in env:
            # conda writes '=2.1' where pip writes '==2.1'
            assert env[name].lstrip('=') == pin.lstrip('='), f"{name}: settings.ini '{pin}' vs environment.yml '{env[name]}'"

def test_toolchain_pins():
    ini = _pins(settings_requirements())
    assert ini['nbdev'].startswith('==2.4') and ini['execnb'] == '<0.2' and ini['regions'] == '<0.11'
