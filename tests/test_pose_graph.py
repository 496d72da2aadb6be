"""The keyframe pose graph pulls a drifted walk back when a closure is added, and prunes a false one."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from pipeline.mapping.pose_graph import PoseGraph


def _pose(x, y, yaw):
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = Rotation.from_euler("z", yaw).as_matrix(), [x, y, 0.0]
    return T


SQUARE = [_pose(0, 0, 0), _pose(1, 0, 0), _pose(2, 0, np.pi / 2), _pose(2, 1, np.pi / 2), _pose(2, 2, np.pi),
          _pose(1, 2, np.pi), _pose(0, 2, -np.pi / 2), _pose(0, 1, -np.pi / 2), _pose(0, 0.05, 0)]


def _drifted_square() -> PoseGraph:
    graph = PoseGraph()
    for k, pose in enumerate(SQUARE):
        drifted = pose.copy()
        drifted[:3, 3] += [0.05 * k, 0.03 * k, 0]
        graph.add_keyframe(k, drifted)
    return graph


def test_a_closure_pulls_a_drifted_square_walk_back():
    graph = _drifted_square()
    before = np.linalg.norm(graph.poses[-1][:3, 3] - SQUARE[-1][:3, 3])
    poses, consistent = graph.optimise()
    assert np.allclose(poses, graph.poses) and consistent  # no closure: nothing moves
    graph.add_loop(0, 8, np.linalg.inv(SQUARE[0]) @ SQUARE[8])
    poses, consistent = graph.optimise()
    after = np.linalg.norm(poses[-1][:3, 3] - SQUARE[-1][:3, 3])
    assert before > 0.4 and after < 0.05, (before, after)
    assert consistent
    assert np.allclose(poses[0], graph.poses[0])  # the first keyframe holds the map in place
    again = PoseGraph.from_arrays(graph.arrays())
    assert np.allclose(again.optimise()[0], poses)


def test_odometry_edges_are_measured_when_keyframes_are_added():
    """Accepting optimised poses keeps the measured odometry: a second optimisation moves nothing."""
    graph = _drifted_square()
    graph.add_loop(0, 8, np.linalg.inv(SQUARE[0]) @ SQUARE[8])
    graph.poses = list(graph.optimise()[0])
    assert np.allclose(graph.optimise()[0], graph.poses, atol=1e-4)


def test_a_loop_that_contradicts_the_walk_is_found_out():
    """A look-alike place 5.6 m off, added after a true loop: after the optimisation the loops disagree."""
    graph = _drifted_square()
    graph.add_loop(0, 8, np.linalg.inv(SQUARE[0]) @ SQUARE[8])
    assert graph.optimise()[1]
    graph.add_loop(1, 6, np.linalg.inv(_pose(1, 0, 0)) @ _pose(5, 4, 0))
    assert not graph.optimise()[1]


def test_a_loop_puts_the_drift_on_the_edge_whose_poses_were_guessed():
    """The square walk with its odometry exact but for one stretch of guessed poses (lost frames) that jumped
    0.6 m: a closure moves the keyframes after the jump back and leaves the measured edges straight; the same jump
    on a measured edge is spread over all of them instead (each bent)."""
    def walk(guessed_edge: bool) -> PoseGraph:
        graph = PoseGraph()
        for k, pose in enumerate(SQUARE):
            placed = pose.copy()
            placed[:3, 3] += [0.6, 0.0, 0] if k >= 4 else 0
            graph.add_keyframe(k, placed, guessed=guessed_edge and k == 4)
        graph.add_loop(0, 8, np.linalg.inv(SQUARE[0]) @ SQUARE[8])
        return graph

    def worst_bend(poses: np.ndarray, graph: PoseGraph, skip_guessed: bool) -> float:
        return max(np.linalg.norm((np.linalg.inv(poses[k]) @ poses[k - 1])[:3, 3] - graph.odometry[k - 1][:3, 3])
                   for k in range(1, len(poses)) if not (skip_guessed and graph.guessed[k - 1]))

    guessed = walk(True)
    poses, consistent = guessed.optimise()
    assert consistent and np.linalg.norm(poses[-1][:3, 3] - SQUARE[-1][:3, 3]) < 0.01
    assert worst_bend(poses, guessed, True) < 0.01
    measured = walk(False)
    poses, consistent = measured.optimise()
    assert worst_bend(poses, measured, False) > 0.03
    assert PoseGraph.from_arrays(guessed.arrays()).guessed == guessed.guessed
