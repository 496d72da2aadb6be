"""Report what a Replica download (NICE-SLAM release) holds and lacks, per scene:
`python datasets/check_replica.py PATH`.

PATH is one scene or a folder of scenes; exit status 0 when every scene is complete, 1 otherwise.
The checks live in m2h_slam/dataset_tools/check.py (see datasets/README.md for the layout).
"""

import sys

from m2h_slam.dataset_tools.check import main

if __name__ == "__main__":
    sys.exit(main("replica", sys.argv[1:]))
