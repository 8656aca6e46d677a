"""`python -m kerasrrn` is `python -m kerasrrn.fit`."""

import sys

from kerasrrn.fit import main

sys.exit(main())
