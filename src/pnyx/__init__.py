"""pnyx: generative social choice — proportional slates of statements from free-form opinions."""

__version__ = "0.1.0"
