"""Live tailing: follow growing logs by name and feed them to the store as they are written.

``watcher`` wakes the loop when a file may have changed, ``follow`` turns one path into complete
lines across rotations, ``ingest_live`` feeds those lines through the parsers into the store,
``headless`` prints what arrives, ``cli`` is the ``perftui tail`` command.
"""
