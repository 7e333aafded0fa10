"""``python -m bertpress``: the command line (also what ``accelerate launch -m bertpress`` runs)."""

import sys

from .cli import main

sys.exit(main())
