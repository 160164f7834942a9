"""The Textual app (``perftui``, ``perftui open``): see ``app.run_app``."""
