"""Python profiles next to the queries: py-spy capture, parsers, the stack model and its rules.

Data flows one way: ``parse_folded`` / ``parse_speedscope`` fill a ``model.ProfileBuilder``;
``ingest`` stores it (``schema``); ``queries`` answer the flame views; ``rules`` and ``link`` read
the store and return ``perftui.rules.base.Finding`` objects.
"""
