"""The names a reply template may call on ``faker``: those of the configured Faker locale.

``{{ faker.weather_city() }}`` would only fail when a request renders it, so the loader
checks every ``faker.<name>`` against this list and refuses an unknown one at load (and in
``mockllm check``), with the names nearest to it. Building a Faker to list them costs
about 0.1 s, so the list is kept in the user cache, named by Faker's version and the locale.
"""

from __future__ import annotations

import json
from importlib import metadata

from ..diskcache import cache_name, read_cached, write_cached

__all__ = ["DEFAULT_LOCALE", "faker_names"]

# The locale of the app's Faker (http/app.py builds DeferredFaker with it).
DEFAULT_LOCALE = "en_US"


def faker_names(locale: str = DEFAULT_LOCALE) -> frozenset[str]:
    """Every public attribute of a ``Faker(locale)``: its providers' methods and the
    proxy's own (``unique``, ``optional``...)."""
    try:
        version = metadata.version("Faker")
    except metadata.PackageNotFoundError:
        version = "?"
    name = cache_name("faker-names", f"{version}\n{locale}".encode(), ".json")
    cached = read_cached(name)
    if cached is not None:
        try:
            return frozenset(json.loads(cached))
        except ValueError:
            pass  # a damaged cache file: list them again
    from faker import Faker

    faker = Faker(locale)
    names = sorted(
        {n for source in (faker, *faker.factories) for n in dir(source) if not n.startswith("_")}
    )
    write_cached(name, json.dumps(names).encode())
    return frozenset(names)
