"""``python -m bench``: run the load benchmark (see bench/README.md)."""

import sys

from .loadbench import main

sys.exit(main())
