"""Load benchmarks and a per-request profile of mockllm (not part of the package).

``python -m bench`` measures requests/s, latency and memory of mockllm against a
bare aiohttp JSON endpoint run in the same session; ``python -m bench.profile_request``
times the pieces of one request in-process. See bench/README.md.
"""
