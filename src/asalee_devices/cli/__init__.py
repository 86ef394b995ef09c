"""Command line interface (``asalee-devices``).

Each module in this package that defines ``register(subparsers)`` adds one top-level command; ``ORDER`` (an int)
sets its place in ``--help``. Command handlers return the process exit code.
"""
