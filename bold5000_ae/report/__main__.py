"""``python -m bold5000_ae.report <multirun dir>``."""

from bold5000_ae.report.cli import main

raise SystemExit(main())
