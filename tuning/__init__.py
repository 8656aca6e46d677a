"""Keras Tuner searches over the RRN's temporal skips and the MRRN's fusion weights.

`kerasrrn` is imported first so that under `python -m tuning.search` it is imported while
Python locates the command (`sys.argv[0] == "-m"`): it then skips its custom objects'
registration, which imports Keras, until the command's arguments parse (see `kerasrrn`).
"""

import kerasrrn  # noqa: F401
