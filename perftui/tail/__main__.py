"""``python -m perftui.tail …``: the ``perftui tail`` command on its own."""

from __future__ import annotations

import sys

from perftui.tail.cli import main

sys.exit(main())
