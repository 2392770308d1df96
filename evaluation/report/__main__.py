"""``python -m evaluation.report``: see :mod:`evaluation.report.cli`."""

import sys

from evaluation.report.cli import main

sys.exit(main())
