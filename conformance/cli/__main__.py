"""``python -m embedspec.conformance.cli``: the ``embedspec`` command."""

import sys

from embedspec.conformance.cli import main

sys.exit(main())
