"""Allow ``python -m ikdav``."""

from ikdav.cli import main

raise SystemExit(main())
