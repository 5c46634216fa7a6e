"""Package attributes loaded on first use (PEP 562), for ``mockllm`` and ``mockllm.conform``.

A package whose names come from heavy modules lists them as name -> module; its
``__getattr__`` imports the module the first time the name is read, so importing the
package (or any one of its light modules) costs nothing more.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, exports: Mapping[str, str],
                    names: list[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: ``exports`` maps each name to
    the module (relative to ``package``) that defines it; ``names`` is its ``__all__``."""

    def getattr_(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{module}", package), name)

    def dir_() -> list[str]:
        return sorted(names)

    return getattr_, dir_
