"""``python -m mockllm``: the same as the ``mockllm`` command."""

from .cli import main

raise SystemExit(main())
