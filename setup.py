"Package set-up read from settings.ini (the nbdev 2 convention)."
from configparser import ConfigParser
import glob, os, shutil
import setuptools, shlex
from setuptools.command.build_py import build_py

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['Planning', 'Pre-Alpha', 'Alpha', 'Beta', 'Production/Stable', 'Mature', 'Inactive']
lic = licenses[cfg['license']]
requirements = shlex.split(cfg.get('requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
console_scripts = cfg.get('console_scripts', '').split()

class build_py_with_notebooks(build_py):
    "Also ship the stage notebooks (nbs/*.ipynb) and the data manifest as fermi_nb/_nbs/: an installed package runs its own pipeline."
    def run(self):
        super().run()
        target = os.path.join(self.build_lib, 'fermi_nb', '_nbs')
        os.makedirs(target, exist_ok=True)
        for f in sorted(glob.glob('nbs/*.ipynb')) + ['data_manifest.yaml']: shutil.copy(f, target)

setuptools.setup(
    cmdclass={'build_py': build_py_with_notebooks},
    name=cfg['lib_name'], version=cfg['version'], license=lic[0],
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'License :: ' + lic[1], 'Natural Language :: ' + cfg['language'].title(),
                 'Programming Language :: Python :: 3.11'],
    url=cfg['git_url'], packages=setuptools.find_namespace_packages(include=['fermi_nb', 'fermi_nb.*']),
    include_package_data=True, package_data={'fermi_nb': ['profiles/*.yaml', 'resources/*', 'models/*.tar.gz', 'models/*/*', 'models/*/*/*']},
    install_requires=requirements, extras_require={'dev': dev_requirements},
    python_requires='>=' + cfg['min_python'], zip_safe=False,
    entry_points={'console_scripts': console_scripts, 'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    description=cfg['description'], long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown', author=cfg['author'], author_email=cfg['author_email'])
