"""The APIs mockllm serves over one scenario and reply engine, one sub-package each."""

__all__: list[str] = []
