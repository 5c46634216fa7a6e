"""Anthropic's Messages API (``POST /v1/messages``) as a surface over the same engines.

``schema`` validates a body against the schemas generated from Anthropic's published
OpenAPI document; ``request`` reads a body into the neutral view the scenario conditions
and the reply engine see; ``reply`` writes the engine's reply as a ``Message``;
``stream`` writes it as Anthropic's server-sent events; ``errors`` is the table of
Anthropic's error types and statuses and its envelope (docs/messages.md).
"""

__all__: list[str] = []
