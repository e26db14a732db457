"""`python -m pipelines.cli`: the `joinedup` command."""

import sys

from pipelines.cli import main

sys.exit(main())
