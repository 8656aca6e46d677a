"""`python -m tuning` is `python -m tuning.search`."""

import sys

from tuning.search import main

sys.exit(main())
