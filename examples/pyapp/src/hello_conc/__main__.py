"""Allow ``python -m hello_conc``."""

import sys

from hello_conc.cli import main

sys.exit(main())
