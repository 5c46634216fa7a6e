"""The scenario engine: which scenario answers a request, and with which reply spec.

The request view, conditions and lookups, the condition registry, the scenario set,
the YAML loader and reply templating. Plain Python: it never imports aiohttp.
"""

__all__: list[str] = []
