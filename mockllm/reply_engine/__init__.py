"""The reply engine: a request and a reply spec in, a seeded ChatResponse out.

Generation, JSON Schema instances, stream chunks, text, tokens, audio and seeding.
Plain Python: it never imports aiohttp.
"""

__all__: list[str] = []
