"""What each `python -m kerasrrn.<command>` does once its arguments parse, one module per
command (`kerasrrn.fit` builds the parser and parses; `kerasrrn.commands.fit` trains).

The commands import these modules only after parsing, so that `--help` and usage errors answer
without TensorFlow. The package registered no custom object in such a process (see `kerasrrn`),
so importing this one registers them, before a model is built or loaded.
"""

import kerasrrn

kerasrrn.register_custom_objects()
