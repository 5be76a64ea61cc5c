"""``python -m ctrlgen.cli``."""

import sys

from ctrlgen.cli.main import main

sys.exit(main())
