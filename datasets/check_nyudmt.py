"""Report what a NYUD-MT release holds and lacks: `python datasets/check_nyudmt.py PATH`.

PATH is the release root (NYUD_MT) or a folder above it; exit status 0 when it is complete, 1 otherwise.
The checks live in m2h_slam/dataset_tools/check.py (see datasets/README.md for the layout).
"""

import sys

from m2h_slam.dataset_tools.check import main

if __name__ == "__main__":
    sys.exit(main("nyudmt", sys.argv[1:]))
