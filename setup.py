"""Package metadata, read from settings.ini (nbdev 2.x layout) with configparser.

No pkg_resources (gone from current setuptools). Versions are pinned once, in requirements.txt;
install with `make` (or `pip install -r requirements.txt && pip install -e . --no-deps`)."""
from configparser import ConfigParser
from pathlib import Path

import setuptools

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
    zip_safe=False,
)
