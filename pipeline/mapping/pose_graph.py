"""The keyframe pose graph: odometry edges between consecutive keyframes, loop edges from verified revisits,
optimised with Open3D's pose-graph optimisation (Levenberg-Marquardt). Every loop is kept through the
optimisation and the result judged after it: a loop left with a residual above ``LOOP_RESIDUAL_M``, or an odometry
edge bent by more than ``ODOMETRY_BEND_M``, means the loops disagree with the walk and each other (a look-alike
place): true drift spreads over many edges, a false loop bends a few. Open3D's line process is not used: it prunes a loop whose residual is
large before the optimisation starts, which is exactly a true loop after metres of drift (a 1,500-frame walk with
the demo weights came back to its start 2-4 m off, and the line process dropped those loops).

An odometry edge over frames whose pose was guessed (tracking failed, or no usable depth: the constant-velocity
prediction) is weighted ``GUESSED_WEIGHT`` and never counts as bent: a loop puts the drift of such a stretch where
it was made instead of bending the measured edges around it (a 1.8 m correction after six lost frames had turned a
whole stretch of a dev walk, leaving ghost walls across two rooms).

SE(3), not Sim(3): Open3D's optimiser has no scale, and each frame's predicted depth is scaled to the map before
it is tracked and fused (``fusion.align_depth_scale``), so the drift the held-out walks show is in rotation and
translation, not in scale.

    graph = PoseGraph()
    graph.add_keyframe(frame, world_T_camera, guessed)  # every keyframe in order; the odometry edge is measured here
    graph.add_loop(old, new, old_T_new)              # a verified revisit between keyframe numbers
    poses, consistent = graph.optimise()             # (K, 4, 4) world_T_camera; whether the loops agree
    graph.poses = list(poses)                        # accept them
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from m2h_slam.core.o3d import open3d

# Information per axis: a closure is one direct measurement of what a chain of odometry edges adds up to, so it
# outweighs each of them (on a drifted square walk: end error 0.47 m -> 0.003 m; equal weights: 0.03 m)
ODOMETRY_WEIGHT = 100.0
GUESSED_WEIGHT = 1.0  # an edge over guessed poses: the loops decide
LOOP_WEIGHT = 1000.0
LOOP_RESIDUAL_M = 0.25  # a loop whose two keyframes end further apart than this from what it says disagrees
ODOMETRY_BEND_M = 0.1  # an odometry edge (keyframes 0.25 m apart) moved more than this by the loops is bent


@dataclass
class PoseGraph:
    """frames: the frame number of each keyframe (its position among the mapped frames); poses: their current
    world_T_camera (4, 4); odometry[k - 1]: k_T_(k-1) as tracked when keyframe k was added, guessed[k - 1]: whether
    a pose between them was guessed; loops: (old, new, old_T_new) between keyframe numbers."""

    frames: list[int] = field(default_factory=list)
    poses: list[np.ndarray] = field(default_factory=list)
    odometry: list[np.ndarray] = field(default_factory=list)
    loops: list[tuple[int, int, np.ndarray]] = field(default_factory=list)
    guessed: list[bool] = field(default_factory=list)

    def add_keyframe(self, frame: int, world_T_camera: np.ndarray, guessed: bool = False) -> int:
        """Add a keyframe (tracked from the previous one's current pose; ``guessed``: some pose since that one was
        guessed); its number."""
        pose = np.asarray(world_T_camera, np.float64).copy()
        if self.poses:
            self.odometry.append(np.linalg.inv(pose) @ self.poses[-1])
            self.guessed.append(bool(guessed))
        self.frames.append(int(frame))
        self.poses.append(pose)
        return len(self.poses) - 1

    def add_loop(self, old: int, new: int, old_T_new: np.ndarray) -> None:
        self.loops.append((int(old), int(new), np.asarray(old_T_new, np.float64).copy()))

    def optimise(self) -> tuple[np.ndarray, bool]:
        """(K, 4, 4) world_T_camera of every keyframe after optimisation from the current poses (the first keyframe
        stays where it is), and whether the loops agree with the walk and each other (see the module doc)."""
        reg = open3d().pipelines.registration
        graph = reg.PoseGraph()
        for pose in self.poses:
            graph.nodes.append(reg.PoseGraphNode(pose))
        for k, (relative, guessed) in enumerate(zip(self.odometry, self.guessed), start=1):
            weight = GUESSED_WEIGHT if guessed else ODOMETRY_WEIGHT  # an Open3D edge (s, t, T) holds T = t_T_s
            graph.edges.append(reg.PoseGraphEdge(k - 1, k, relative, weight * np.eye(6), uncertain=False))
        for old, new, old_T_new in self.loops:
            graph.edges.append(reg.PoseGraphEdge(new, old, old_T_new, LOOP_WEIGHT * np.eye(6), uncertain=False))
        option = reg.GlobalOptimizationOption(reference_node=0)
        with open3d().utility.VerbosityContextManager(open3d().utility.VerbosityLevel.Error):
            reg.global_optimization(graph, reg.GlobalOptimizationLevenbergMarquardt(),
                                    reg.GlobalOptimizationConvergenceCriteria(), option)
        poses = np.array([np.asarray(node.pose) for node in graph.nodes])
        loop_residuals = [np.linalg.norm((poses[old] @ old_T_new)[:3, 3] - poses[new][:3, 3])
                          for old, new, old_T_new in self.loops]
        bends = [np.linalg.norm((np.linalg.inv(poses[k]) @ poses[k - 1])[:3, 3] - relative[:3, 3])
                 for k, (relative, guessed) in enumerate(zip(self.odometry, self.guessed), start=1) if not guessed]
        return poses, max(loop_residuals, default=0.0) <= LOOP_RESIDUAL_M and max(bends, default=0.0) <= ODOMETRY_BEND_M

    # -- snapshots ---------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """The graph as flat arrays (``graph_*``), for the mapper's snapshot."""
        return {"graph_frames": np.array(self.frames, np.int64),
                "graph_poses": np.array(self.poses, np.float64).reshape(-1, 4, 4),
                "graph_odometry": np.array(self.odometry, np.float64).reshape(-1, 4, 4),
                "graph_guessed": np.array(self.guessed, bool),
                "graph_loops": np.array([(a, b) for a, b, _ in self.loops], np.int64).reshape(-1, 2),
                "graph_loop_T": np.array([t for _, _, t in self.loops], np.float64).reshape(-1, 4, 4)}

    @classmethod
    def from_arrays(cls, data) -> PoseGraph:
        """The graph ``arrays`` gave (``data``: a mapping holding them; none of them: an empty graph)."""
        if "graph_frames" not in data:
            return cls()
        guessed = [bool(g) for g in data["graph_guessed"]] if "graph_guessed" in data else \
            [False] * len(data["graph_odometry"])  # a snapshot from before guessed edges
        return cls([int(f) for f in data["graph_frames"]], list(data["graph_poses"]), list(data["graph_odometry"]),
                   [(int(a), int(b), t) for (a, b), t in zip(data["graph_loops"], data["graph_loop_T"])], guessed)
