"""`python -m bench.hostile [options]`, the same as `python -m bench hostile`."""

import sys

from bench.hostile import main

raise SystemExit(main(sys.argv[1:]))
