"""``python -m perceptcodec``."""

import sys

from perceptcodec.cli import main

sys.exit(main())
