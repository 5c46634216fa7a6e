"""The model catalog: what the API does per model (docs/models.md).

``models.yaml`` (shipped) says, per model family and alias, the dated snapshot a reply
names, the tokenizer, the fingerprint rule, whether it reasons or returns logprobs, its
modalities, context window and output limit, and what it refuses; users extend or
change it with a ``models:`` section in a scenario file or ``--models FILE``
(:func:`load_catalog`). The reply engine, the strict model checks and ``GET /v1/models``
read the resulting :class:`Catalog`.
"""

from __future__ import annotations

from .cards import Catalog, ModelCard, Refusals
from .checks import model_error, unknown_model
from .load import CatalogBuilder, load_catalog, shipped_catalog_file

__all__ = [
    "Catalog",
    "CatalogBuilder",
    "ModelCard",
    "Refusals",
    "load_catalog",
    "model_error",
    "shipped_catalog_file",
    "unknown_model",
]
