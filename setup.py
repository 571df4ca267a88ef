"""Which folders become which packages; everything else is in pyproject.toml.

The browser code stays at the top of the checkout (``webclient/``, beside
``server/``), where a reader looks for it and where it is served from during
development, with no build step. A wheel can only ship files that belong to a
package, so the build maps that folder into the package as
``server/webclient/``; ``server.static_files`` looks there first. pyproject.toml
cannot say this on its own: mapping one folder (``package-dir``) needs an
explicit package list, and this list is found, not written out, so new
subpackages are never left behind.
"""

from setuptools import find_namespace_packages, setup

setup(
    # Namespace discovery, as pyproject's default ``packages.find`` did: folders
    # without __init__.py (templates, i18n, migrations) are packages too, so
    # their files travel as package data at any depth.
    packages=find_namespace_packages(include=["server", "server.*"], exclude=["*.__pycache__"]) + ["server.webclient"],
    package_dir={"server.webclient": "webclient"},
)
