"""``python -m bot``: the same as the ``backout`` command."""

from __future__ import annotations

import sys

from bot.cli.main import main

sys.exit(main())
