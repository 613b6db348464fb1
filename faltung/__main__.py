"""``python -m faltung``: the ``faltung`` command line (:mod:`faltung.cli`)."""

import sys

from faltung.cli import main

sys.exit(main())
