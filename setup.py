"""Package metadata, read from settings.ini (nbdev 2.x layout) with configparser.

No pkg_resources (gone from current setuptools). Versions are pinned once, in requirements.txt;
install with `make` (or `pip install -r requirements.txt && pip install -e . --no-deps`)."""
import shutil
from configparser import ConfigParser
from pathlib import Path

import setuptools
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent
# What a non-editable install needs beside the code: the configs, the bundled Kraken data, the nightly notebooks and the
# lock. They live at the repository root (where `make` and an editable install use them); a wheel carries a copy in
# cryptotrader/_bundle/, which cryptotrader.config.PROJECT_ROOT points at when it exists. Never the data root's run-time
# folders (data/artifacts, data/logs, ...): only these.
BUNDLE = ["config/crypto", "data/MANIFEST.json", "data/README.md", "data/kraken_api", "data/ohlcv", "scheduled_runs", "requirements.txt"]


class BuildWithBundle(build_py):
    "build_py, plus the bundle copied into the built package (not in editable mode: there the repository is the bundle)."
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False): return
        dest = Path(self.build_lib) / "cryptotrader" / "_bundle"
        for rel in BUNDLE:
            src, out = HERE / rel, dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir(): shutil.copytree(src, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
            else: shutil.copy2(src, out)

cfg = ConfigParser(delimiters=["="])
cfg.read(Path(__file__).parent / "settings.ini")
c = cfg["DEFAULT"]

setuptools.setup(
    name=c["lib_name"],
    version=c["version"],
    description=c["description"],
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    author=c["author"],
    author_email=c["author_email"],
    keywords=c["keywords"].split(),
    url=c["git_url"],
    project_urls={"Source": c["git_url"]},
    classifiers=["Programming Language :: Python :: 3.11", "Intended Audience :: Financial and Insurance Industry"],
    license="Apache-2.0",
    python_requires=f">={c['min_python']}",
    packages=setuptools.find_packages(include=[c["lib_name"], c["lib_name"] + ".*"]),
    include_package_data=True,
    install_requires=c.get("requirements", "").split(),
    extras_require={"dev": c.get("dev_requirements", "").split()},
    entry_points={
        "console_scripts": c.get("console_scripts", "").split(),
        "nbdev": [f"{c['lib_path']}={c['lib_path']}._modidx:d"],
    },
    cmdclass={"build_py": BuildWithBundle},
    zip_safe=False,
)
