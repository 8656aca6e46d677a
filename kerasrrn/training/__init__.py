"""Training a run: compilation, phases, callbacks, exact-resume backups, distribution, losses,
schedules and the process set-up.

Modules are imported by name (`from kerasrrn.training import compile`): `distribution` imports
TensorFlow, which the backend-agnostic `losses` and `schedules` must not need.
"""
