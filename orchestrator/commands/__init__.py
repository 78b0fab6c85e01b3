"""One module per ``lucas-abm`` sub-command; each defines ``register(subparsers)``."""
