"""Where the shipped data folders are: ``schemas/`` and ``scenarios/``.

In the repository they sit beside the ``mockllm`` package; an installed wheel
carries them inside it as ``mockllm.schemas`` and ``mockllm.scenarios`` (see the
``package_dir`` mapping in setup.cfg). This module hides the difference.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["data_dir"]


def data_dir(name: str) -> Path:
    """The folder of the data package ``name`` (``"schemas"`` or ``"scenarios"``)."""
    spec = importlib.util.find_spec(f"mockllm.{name}")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    # A checkout imported without installing: the folder beside the package.
    here = Path(__file__).resolve().parent.parent / name
    if here.is_dir():
        return here
    raise FileNotFoundError(f"mockllm data folder {name!r} not found")
