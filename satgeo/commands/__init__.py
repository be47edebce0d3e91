"""CLI subcommands, one module per topic; each exposes ``register(app)``."""
