"""Where the browser code (``webclient/``) is on disk, however Bimbing was installed.

In a checkout the folder sits beside the package (``<checkout>/webclient``):
that is where a reader finds it, and an editable install (``make test``,
``make demo``, the Dockerfile) serves it from there. A wheel cannot ship a
folder outside its packages, so setup.py maps it into the package and a
``pip install .`` has it as ``server/webclient``. Inside the package comes
first: an installed wheel has nothing beside it.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def webclient_dir() -> Path:
    """The folder the ``/static/`` route serves."""
    candidates = (_PACKAGE / "webclient", _PACKAGE.parent / "webclient")
    for folder in candidates:
        # The join page's script, not just a folder of that name: a leftover
        # empty folder must not hide the real one.
        if (folder / "join.js").is_file():
            return folder
    raise FileNotFoundError("the browser code (webclient/) is missing; looked in " + ", ".join(map(str, candidates)))
