"""``python -m helpers ...``: see :mod:`helpers.cli`."""

import os
import sys

from helpers.cli import main

if __name__ == "__main__":  # worker processes may re-import this module
    code = main()
    if code == 130:  # interrupted: leave now, without the exit hooks of a chapter still starting or
        sys.stdout.flush()  # running in its thread (its orphaned kernel stops itself); everything
        sys.stderr.flush()  # the run keeps was written atomically and its lock is released
        os._exit(code)
    sys.exit(code)
