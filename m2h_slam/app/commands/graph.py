"""``m2h-slam graph OUT [--json] [--route A B]``: a run's scene graph as text, JSON or a walk between rooms."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from m2h_slam.core.errors import InputError


def add(commands, common: argparse.ArgumentParser) -> None:
    graph = commands.add_parser("graph", parents=[common], help="summarise a run's scene graph; --route between rooms")
    graph.add_argument("run", help="output folder of m2h-slam run")
    graph.add_argument("--json", action="store_true", help="print the scene graph JSON")
    graph.add_argument("--route", nargs=2, metavar=("ROOM_A", "ROOM_B"), help="shortest walk between two rooms (ids)")
    graph.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from m2h_slam.app.graph_summary import load_graph_document, route_lines, summary_lines

    data = load_graph_document(Path(args.run))
    if args.json and not args.route:
        print(json.dumps(data, indent=1))
        return 0
    try:
        lines = route_lines(data, *args.route) if args.route else summary_lines(data)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:  # a field missing or of a wrong kind
        raise InputError(Path(args.run) / "scene_graph.json", "does not hold a scene graph as m2h-slam writes it "
                         f"({type(error).__name__}: {error})") from None
    print("\n".join(lines))
    return 0
