"""Classic setuptools script for the greeting vendor library.

Install into a virtualenv with:

    VENV/bin/python setup.py install

Note: virtualenvs created by ``python3 -m venv`` on Python 3.12+ no longer
contain setuptools, so this only works there if setuptools was installed
into the venv first.

The install is a plain "flat" one (greeting.py plus a greeting-1.0-pyX.Y.egg-info
directory directly in site-packages) rather than setuptools' default
easy_install-style greeting-1.0-pyX.Y.egg: pip deprecates .egg installs on
Python 3.11+ and is dropping support for finding them (pypa/pip#12330), and
an egg pip cannot see would not satisfy hello_conc's "Requires-Dist: greeting"
during an offline ``pip install --no-index``.
"""

import os
import sys

try:
    from setuptools import setup
except ImportError:
    sys.exit("greeting: setuptools is not available in %s; "
             "on Python 3.12+ venvs it must be installed first" % sys.prefix)

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "README.txt")) as f:
    LONG_DESCRIPTION = f.read()

setup(
    name="greeting",
    version="1.0",
    description="Tiny pure-Python greeting library (conc demo vendor package)",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/plain",
    author="conc demo",
    license="MIT",
    py_modules=["greeting"],
    zip_safe=False,
    # Same as `setup.py install --old-and-unmanageable`: skip the egg, install
    # flat, with metadata that both pip backends (pkg_resources and
    # importlib.metadata) recognise. Setuptools 80+ installs flat anyway.
    options={"install": {"old_and_unmanageable": True}},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
    ],
)
