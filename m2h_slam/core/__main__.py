"""``python -m m2h_slam.core --write-default configs/default.yaml``: write the default config's YAML."""

import argparse
from pathlib import Path

from m2h_slam.core.config import default_yaml

parser = argparse.ArgumentParser(prog="python -m m2h_slam.core", description=__doc__)
parser.add_argument("--write-default", metavar="PATH", required=True, help="write the defaults, commented, to PATH")
Path(parser.parse_args().write_default).write_text(default_yaml(), encoding="utf-8")
