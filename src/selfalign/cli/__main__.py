"""``python -m selfalign.cli``: the same as the ``selfalign`` console script."""

import sys

from selfalign.cli import main

sys.exit(main())
