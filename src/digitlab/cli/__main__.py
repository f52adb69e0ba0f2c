"""``python -m digitlab.cli``: the ``digitlab`` command."""

import sys

from digitlab.cli.main import main

sys.exit(main())
