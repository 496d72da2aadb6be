"""Configuration: frozen dataclasses filled from YAML, strictly, and checked one way.

A YAML file may set any subset of keys; the rest keep their defaults. An unknown
key, a value of the wrong type, a non-finite number or a value outside its range
is an ``InputError`` naming the key and the file. Ranges are declared once, on the
dataclass fields (``ranged``), and checked in ``__post_init__`` of every ``Checked``
dataclass, so a config built in code, read from YAML or changed by a CLI flag passes
the same checks (the CLI's number flags use ``Range`` too).

This file holds the settings of a run (``Config``: input, perception, odometry, fusion,
graph) and is the one source of their defaults and documentation: ``configs/default.yaml``
is generated from it (``default_yaml``; a test fails when the file is not current). The
settings of the other stages live beside their code, as ``Checked`` dataclasses:

- training: ``m2h_slam.train.trainer.TrainConfig`` and ``m2h_slam.train.augment.AugmentConfig``
  (``configs/train/*.yaml``, read by ``load_config``);
- the network's structure: ``m2h_slam.perception.model.config.M2HConfig`` (the model registry,
  stored in our checkpoints);
- data-set evaluation: ``m2h_slam.app.dataset_eval.EvalSettings`` (``OUT/settings.json``);
- the synthetic world: ``m2h_slam.synthetic.world.WorldSpec`` (``m2h-slam synth``).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import io
import math
import os
import re
import textwrap
import tokenize
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from m2h_slam.core.errors import InputError, require_file
from m2h_slam.core.yaml_numbers import load_yaml


@dataclass(frozen=True)
class Range:
    """Allowed numbers: ``low``/``high`` bounds (None = unbounded), open (excluded) or closed, and the practical
    values within them, ``least`` to ``limit`` (None = no such end): past ``limit`` memory or time run out, below
    ``least`` a number stops meaning anything (a field of view of 1e-300 deg). The bounds are checked first."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    least: float | None = None
    limit: float | None = None

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (non-finite, out of range or past the limit), or None."""
        if isinstance(value, (tuple, list)):
            return next((p for p in map(self.problem, value) if p), None)
        if value is None or isinstance(value, (bool, str)) or dataclasses.is_dataclass(value):
            return None  # a nested section checks itself
        requirement = self.requirement(value)
        shown = value if isinstance(value, int) else f"{value:g}"  # integers in full
        return None if requirement is None else f"must be {requirement}, got {shown}"

    def requirement(self, value: float) -> str | None:
        """What the number ``value`` must be ("positive", "at most 8192", ...) when it is not allowed, else None."""
        if not math.isfinite(value):
            return "a finite number"
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if below or above:
            return self.describe()
        if self.least is not None and value < self.least:
            return f"at least {_plain(self.least)}"
        if self.limit is not None and value > self.limit:
            return f"at most {_plain(self.limit)}"
        return None

    def describe(self) -> str:
        if self.low == 0 and self.high is None:
            return "positive" if self.low_open else "at least 0"
        if self.high is None:
            return f"{'above' if self.low_open else 'at least'} {self.low:g}"
        if self.low is None:
            return f"{'below' if self.high_open else 'at most'} {self.high:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


def _plain(number: float) -> str:
    """``number`` as written by hand: integers in full (4294967295, not 4.29497e+09)."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?|mps")


def device_problem(device: str) -> str | None:
    """What is wrong with a torch device name (None: nothing)."""
    return None if DEVICE_PATTERN.fullmatch(device) else f"must be cpu, cuda, cuda:N or mps, got {device!r}"
POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1)
SHARE = Range(0, 1)  # a fraction in [0, 1]
RUNTIMES = ("auto", "torch", "onnx")  # how the network runs: auto = ONNX Runtime on the CPU, PyTorch on a GPU

# Practical limits (``Range.limit``), each declared once and shared by the flags and fields that set the quantity:
# past them a value exhausts memory or time, and no real camera, scene or machine has it.
IMAGE_SIDE_PX = Range(1, limit=8192)  # an image side (8K video is 7680 px wide; an 8192^2 RGB frame is 200 MB)
# a network input side: one ViT patch (14 px) up to 73 patches (ONNX Runtime's attention over 73^2 tokens: 110 MB
# a head and layer; official models run at 224)
NETWORK_SIDE_PX = Range(14, limit=1024)
THREADS = Range(1, limit=1024)  # CPU threads (the largest two-socket servers have 768)
WORKERS = Range(1, limit=128)  # processes in parallel, each holding a network or a data loader's frames
FPS = Range(0, low_open=True, limit=1000)  # frames per second (a high-speed camera)
# depth range (m): beyond what sensors and depth networks measure; the map's ray marcher steps through all of it
DEPTH_M = Range(0, low_open=True, limit=100)
# a horizontal field of view (deg): narrower is no lens (and its focal length past core.intrinsics' bound)
FOV_DEG = Range(0, 180, low_open=True, high_open=True, least=0.01)
SEED = Range(0, limit=2**32 - 1)  # a random seed: 32 bits, which every generator we seed takes
NOISE_LEVELS = Range(0, limit=255)  # image noise std in 8-bit levels: more than the whole range is no image
BLUR_SIGMA_PX = Range(0, limit=50)  # image blur sigma: wider is no camera, and the filter's cost grows with it


def ranged(default: Any, allowed: Range) -> Any:
    """A dataclass field whose values (each element, for tuples) must satisfy ``allowed``."""
    return field(default=default, metadata={"range": allowed})


class ConfigValueError(ValueError):
    """A config value outside its range; ``key`` names the field."""

    def __init__(self, key: str, problem: str):
        self.key, self.problem = key, problem
        super().__init__(f"{key} {problem}")


class Checked:
    """Mixin for config dataclasses: ``__post_init__`` checks that every number is finite, every field declared
    with ``ranged`` in its range and the rules between fields (``_relations``) hold; a failure is a
    ``ConfigValueError`` naming the field."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            allowed = f.metadata.get("range", Range())
            problem = allowed.problem(value)
            if problem:
                raise ConfigValueError(f.name, problem)
        for key, problem in self._relations():
            raise ConfigValueError(key, problem)

    def _relations(self) -> list[tuple[str, str]]:
        """(key, problem) for rules between fields; none by default."""
        return []


@dataclass(frozen=True)
class InputConfig(Checked):
    """How sequences are read."""

    # horizontal FOV assumed when a video or image folder has no intrinsics
    default_fov_deg: float = ranged(60.0, FOV_DEG)
    image_fps: float = ranged(30.0, FPS)  # frame rate given to image folders (timestamps = index / fps)
    tum_max_time_diff_s: float = ranged(0.02, NON_NEGATIVE)  # TUM rgb/depth/pose association window
    # larger frames are downscaled (with a warning) unless --resize
    max_image_side_px: int = ranged(1280, Range(64, limit=IMAGE_SIDE_PX.limit))


@dataclass(frozen=True)
class PerceptionConfig(Checked):
    """The network that gives depth, semantics, normals and edges."""

    weights: str | None = None  # our .safetensors, an official .pt, or .onnx; None = the shipped demo weights
    input_size: tuple[int, int] | None = ranged(None, NETWORK_SIDE_PX)  # (W, H) network input; None = the model's own
    device: str = "cpu"  # torch device, e.g. "cuda"
    threads: int | None = ranged(None, THREADS)  # CPU threads for the network; None = torch's default
    # auto (ONNX Runtime on the CPU, its export cached once per weights; PyTorch on a GPU), torch or onnx
    runtime: str = "auto"
    # with ONNX Runtime: build faster variants of the export once (INT8, shorter attention windows, outputs at the
    # heads' resolution) and run the fastest that is within AbsRel +2 % and mIoU -0.01 of the export on held-out
    # synthetic frames (m2h_slam/perception/onnx_variants.py)
    variants: bool = True

    def _relations(self) -> list[tuple[str, str]]:
        if device_problem(self.device):
            return [("device", device_problem(self.device))]
        if self.runtime not in RUNTIMES:
            return [("runtime", f"must be {', '.join(RUNTIMES[:-1])} or {RUNTIMES[-1]}, got {self.runtime!r}")]
        return []


ITERATIONS = Range(1, limit=1000)  # odometry iterations a level: Open3D stops once converged; 1000 take seconds


@dataclass(frozen=True)
class OdometryConfig(Checked):
    """RGB-D odometry (Open3D's tensor pipeline) against the last keyframe, the previous frame or the map."""

    # auto: intensity for predicted depth, hybrid for measured depth (--gt-perception). Predicted depth's scale
    # flickers by a few % from frame to frame, so its geometry disagrees between frames; the photometric term
    # uses depth only to back-project, where a scale error moves the result by that share of the step only.
    method: Literal["auto", "hybrid", "intensity", "point_to_plane"] = "auto"
    # align to the last keyframe, the previous frame, or a raycast of the map; failures retry the frame, then the map
    target: Literal["keyframe", "frame", "model"] = "keyframe"
    iterations: tuple[int, ...] = ranged((20, 10, 5), ITERATIONS)  # per pyramid level, finest first
    # Align frames shrunk by the smallest integer factor that makes them at most this wide (320x240 -> 160x120,
    # 640x480 -> 160x120; None: full resolution). Predicted depth has no finer detail (the network's output).
    max_width_px: int | None = ranged(200, Range(16, limit=IMAGE_SIDE_PX.limit))
    depth_max_m: float = ranged(6.0, DEPTH_M)
    # Pixels whose depths differ by more than this between the frames are not correspondences; None (auto):
    # 0.3 m for predicted depth (a 4 % scale flicker at 4 m is 16 cm), 0.07 m (Open3D's default) for measured.
    depth_outlier_m: float | None = ranged(None, POSITIVE)
    min_fitness: float = ranged(0.15, SHARE)  # share of pixels with a correspondence
    max_inlier_rmse_m: float = ranged(0.05, POSITIVE)  # Open3D's inlier RMSE (intensity units for intensity)
    max_translation_m: float = ranged(0.3, POSITIVE)  # per frame; more is a tracking failure
    max_rotation_deg: float = ranged(20.0, Range(0, 180, low_open=True))
    # Frames nothing measures (no usable depth, tracking failed) are placed by the mean per-frame motion of this many
    # frames up to the last measured one, not by that frame's alone: the last measurement before a blind stretch is
    # often the occluder coming into view (walk 905: 3x the true step, kept up for 17 frames a person blocked)
    blind_motion_frames: int = ranged(6, Range(1, limit=1000))
    max_prediction_error_m: float = ranged(0.1, POSITIVE)  # per frame, off the constant-velocity prediction
    max_prediction_error_deg: float = ranged(10.0, Range(0, 180, low_open=True))
    # below this fitness both bounds above shrink in proportion: an alignment that matched few pixels may confirm the
    # prediction but not overrule it (a 0.19 fit once doubled a turn, and the doubled turn, kept up through lost
    # frames, turned the rest of a walk's map by 90 deg)
    full_trust_fitness: float = ranged(0.4, Range(0, 1, low_open=True))
    keyframe_translation_m: float = ranged(0.25, NON_NEGATIVE)
    keyframe_rotation_deg: float = ranged(15.0, Range(0, 180))
    # Hold the pose while this share of the textured, static pixels is unchanged since the last measured frame
    # (a camera on a tripod: pipeline.mapping.static_camera); null: always run odometry
    static_min_unchanged: float | None = ranged(0.85, SHARE)
    # find keyframes that see a place again (ORB + PnP, pipeline/mapping/loop_closure.py) and record the drift
    # measured there (run.json: revisits)
    revisits: bool = True
    revisit_min_gap_keyframes: int = ranged(10, Range(1, limit=100000))  # a revisit is this many keyframes older
    # close the loop at each revisit (needs revisits): optimise the keyframe pose graph, move the poses, the scene
    # graph and, when a keyframe moved more than loop_rebuild_min_m, re-integrate the map from stored keyframes
    loop_closure: bool = True
    loop_rebuild_min_m: float = ranged(0.05, NON_NEGATIVE)
    loop_keyframes_mb: float = ranged(512.0, Range(1, limit=1e6))  # stored keyframes beyond this are thinned
    # One Open3D thread: smaller run-to-run differences, slower (not bit-identical: Open3D 0.20's CPU odometry
    # differs in the last bits between identical calls; given poses are bit-identical).
    deterministic: bool = False

    def _relations(self) -> list[tuple[str, str]]:
        return [] if self.iterations else [("iterations", "needs at least one pyramid level")]

    def for_depth(self, predicted: bool) -> OdometryConfig:
        """This config with its automatic settings (``method``, ``depth_outlier_m``) fixed for predicted
        (network) or measured (sensor, ground-truth) depth."""
        method = self.method if self.method != "auto" else "intensity" if predicted else "hybrid"
        outlier = self.depth_outlier_m if self.depth_outlier_m is not None else 0.3 if predicted else 0.07
        return dataclasses.replace(self, method=method, depth_outlier_m=outlier)


MAX_VOXELS = 2**30  # the most voxels fusion.max_blocks may budget for (41 bytes each: 44 GB)
MAP_WEIGHT = Range(0, limit=1e6)  # a voxel's weight (summed view cosines, float32): a million frames' worth


@dataclass(frozen=True)
class FusionConfig(Checked):
    """TSDF fusion with colour, semantic evidence and normals (Open3D VoxelBlockGrid, CPU)."""

    voxel_size_m: float = ranged(0.05, Range(0.001, 1.0))
    # the TSDF band: at least voxel_size_m, at most as deep as depths go (DEPTH_M)
    truncation_m: float = ranged(0.15, Range(0, low_open=True, limit=DEPTH_M.limit))
    block_resolution: int = ranged(8, Range(2, 32))  # voxels per block side
    # memory budget (8^3 voxels of 41 bytes each: about 210 MB per 10k blocks); new space is not mapped beyond it
    max_blocks: int = ranged(40000, AT_LEAST_ONE)
    depth_min_m: float = ranged(0.2, NON_NEGATIVE)
    depth_max_m: float = ranged(5.0, DEPTH_M)
    # pixels seen at more than ~80 deg from their normal are not fused; others weigh |cos|
    min_view_cos: float = ranged(0.17, SHARE)
    edge_threshold: float = ranged(0.5, SHARE)  # predicted edge probability above which pixels are not fused
    discontinuity_ratio: float = ranged(0.05, POSITIVE)  # relative depth jump to a neighbour that marks a flying pixel
    # grow masks of dynamic classes (people) by this much (at most 64: a disc of 129 px, 0.3 s a frame at 1280 px)
    dynamic_dilation_px: int = ranged(5, Range(0, limit=64))
    # object segments with this share of samples in seen free space move; 0 = off
    moving_free_space_ratio: float = ranged(0.5, SHARE)
    moving_min_area: float = ranged(0.002, SHARE)  # smallest segment checked, as a share of the image
    # map weight (summed view cosines) a voxel needs to count as seen
    moving_min_weight: float = ranged(2.0, MAP_WEIGHT)
    # same-class segments this close to a moving object are masked too
    moving_track_radius_m: float = ranged(0.3, NON_NEGATIVE)
    # voxels whose summed view cosines are below this are not meshed
    mesh_weight_threshold: float = ranged(0.5, MAP_WEIGHT)
    # scale each frame's depth to the map seen from its pose before it is fused (pipeline.mapping.depth_scale);
    # auto: only a network's depth. Off by default: with the demo weights the map's scale drifts (docs/pipeline.md)
    align_depth_scale: Literal["auto", "on", "off"] = "off"
    align_min_share: float = ranged(0.05, SHARE)  # share of the image the frame and the map must both see
    align_max_change: float = ranged(1.5, Range(1.0, 10.0))  # larger corrections are not trusted (the map is off)
    # without alignment, compare every this many frames' depth with the map anyway (perception health; 0: never)
    depth_check_every: int = ranged(5, NON_NEGATIVE)

    def _relations(self) -> list[tuple[str, str]]:
        if self.depth_min_m >= self.depth_max_m:
            return [("depth_min_m", f"must be below depth_max_m ({self.depth_max_m:g}), got {self.depth_min_m:g}")]
        if self.truncation_m < self.voxel_size_m:  # a band thinner than a voxel misses the voxels: an empty map
            return [("truncation_m", f"must be at least voxel_size_m ({self.voxel_size_m:g}), got {self.truncation_m:g}")]
        if self.max_blocks * self.block_resolution**3 > MAX_VOXELS:
            most = MAX_VOXELS // self.block_resolution**3
            problem = f"must be at most {most} with block_resolution {self.block_resolution} (2^30 voxels)"
            return [("max_blocks", f"{problem}, got {self.max_blocks}")]
        return []


REACH_M = Range(0, limit=100)  # a reach in m, taken in grid steps: farther than any room reaches


@dataclass(frozen=True)
class GraphConfig(Checked):
    """The scene graph: objects and agents from the per-frame masks, rooms and places from the map."""

    object_min_pixels: int = ranged(25, AT_LEAST_ONE)  # smaller segments are not objects (nor people)
    object_voxel_m: float = ranged(0.1, Range(0.01, 1.0))  # an object's shape is kept on this grid
    object_min_overlap: float = ranged(0.2, SHARE)  # share of a segment's voxels inside an object to join it
    object_gate_m: float = ranged(0.4, POSITIVE)  # else: same class, centroids this close
    object_min_observations: int = ranged(3, AT_LEAST_ONE)  # frames a candidate needs to become a node
    # ... and the share of the frames with its centre in view (a surface measured there) that segmented it
    object_min_view_share: float = ranged(0.5, SHARE)
    # share of the map's fused object-label evidence in an object's cells its class needs (else no node)
    object_min_class_share: float = ranged(0.5, SHARE)
    # objects are updated on every N-th tracked frame (people on every frame); 2 halves the cost
    object_every_frames: int = ranged(1, AT_LEAST_ONE)
    object_empty_share: float = ranged(0.7, SHARE)  # a frame seeing through this much of an object misses it
    # depth this far behind an object's voxel (plus object_see_through_share of its depth) sees through it
    object_see_through_m: float = ranged(0.25, POSITIVE)
    object_see_through_share: float = ranged(0.1, NON_NEGATIVE)
    # the frames that see through an object must span viewpoints this far apart before it is gone or moved
    # (or be three times object_misses_to_go: a camera standing still)
    object_gone_baseline_m: float = ranged(0.3, NON_NEGATIVE)
    object_misses_to_go: int = ranged(5, AT_LEAST_ONE)  # frames in a row that see through an object: it is gone
    # an object of the class that appeared this close (s) to the last sighting of a gone one is that one, moved
    object_moved_within_s: float = ranged(1.0, NON_NEGATIVE)
    # ... and a move shorter than this is the same object placed again (odometry drift, depth noise): no event
    object_moved_min_m: float = ranged(1.2, NON_NEGATIVE)
    # an object is checked for presence only when this many of its voxels are in view
    object_min_voxels_in_view: int = ranged(8, AT_LEAST_ONE)
    # same-class parts over one footprint with at most this many empty voxels between them are one (shelf levels)
    object_stack_gap_cells: int = ranged(10, NON_NEGATIVE)
    object_max_points_per_segment: int = ranged(400, AT_LEAST_ONE)  # a segment's pixels are subsampled to this many
    agent_gate_m: float = ranged(1.0, POSITIVE)  # predicted-to-seen distance for the same agent
    # a person is detected when the network's mean class probability over the body is this high ...
    agent_min_confidence: float = ranged(0.7, SHARE)
    agent_min_height_m: float = ranged(0.5, NON_NEGATIVE)  # ... and the body seen is this tall
    agent_min_hits: int = ranged(3, AT_LEAST_ONE)  # detections before a track is an agent
    agent_max_unseen_s: float = ranged(2.0, POSITIVE)  # then the agent leaves the active layer (kept in history)
    # a person seen again this close to where an agent left is it (0: never), plus agent_walk_speed_mps times
    # the time unseen beyond agent_max_unseen_s
    agent_reid_m: float = ranged(2.0, NON_NEGATIVE)
    agent_walk_speed_mps: float = ranged(1.5, NON_NEGATIVE)  # the gate of a track unseen a while grows this fast
    # m/s^2, how fast a walker may change speed (Kalman; 100 is 10 g, squared in its covariances)
    agent_acceleration_sigma: float = ranged(2.0, Range(0, low_open=True, limit=100))
    # noise of a detection's position (Kalman; more than 10 m is no detection of that person)
    agent_measurement_sigma_m: float = ranged(0.15, Range(0, low_open=True, limit=10))
    # segments of one dynamic class whose centres lie this close are parts of one body (split by occluders)
    agent_part_radius_m: float = ranged(0.4, NON_NEGATIVE)
    # rooms and places are found on a 2D grid of this cell side (m) in the gravity-aligned map frame
    free_space_cell_m: float = ranged(0.1, Range(0.01, 1.0))
    # surfaces between these heights above the floor are obstacles (walls, furniture; not the floor, not the
    # ceiling); surfaces labelled floor below free_space_min_z_m are seen floor
    free_space_min_z_m: float = ranged(0.2, POSITIVE)
    free_space_max_z_m: float = ranged(1.8, POSITIVE)
    # a cell is wall where its wall-labelled surface voxels in that band add up to this height (m): stray voxels
    # of noisy predicted depth inside a room are not
    free_space_min_wall_m: float = ranged(0.4, NON_NEGATIVE)
    room_seed_clearance_m: float = ranged(0.5, POSITIVE)  # more than half a door: seeds never pass one
    room_seed_reach_m: float = ranged(1.0, REACH_M)  # seeds lie within this distance of room space
    room_min_seen_floor_m2: float = ranged(0.5, NON_NEGATIVE)  # seeds with less seen floor are dropped
    room_min_area_m2: float = ranged(1.0, NON_NEGATIVE)  # smaller rooms are dropped
    # wall lines go on across seen gaps up to this wide (doors), so rooms part there
    room_door_max_m: float = ranged(1.2, POSITIVE)
    # rooms extend this far into space never seen (up to the walls)
    room_unseen_reach_m: float = ranged(1.0, REACH_M)
    place_spacing_m: float = ranged(0.5, POSITIVE)  # one place per tile of this size
    place_min_clearance_m: float = ranged(0.2, NON_NEGATIVE)  # a place is at least this far from obstacles and unknown
    # floor voxels needed to fix the estimated map frame (fewer: the graph has no rooms or places, not upright)
    map_frame_min_floor_voxels: int = ranged(200, Range(2))
    # duplicate objects merged, and rooms and places rebuilt for a live viewer (--rerun), this often (and at the end)
    update_every_frames: int = ranged(100, AT_LEAST_ONE)

    def _relations(self) -> list[tuple[str, str]]:
        if self.free_space_min_z_m >= self.free_space_max_z_m:
            low, high = self.free_space_min_z_m, self.free_space_max_z_m
            return [("free_space_min_z_m", f"must be below free_space_max_z_m ({high:g}), got {low:g}")]
        return []


@dataclass(frozen=True)
class HealthConfig(Checked):
    """Perception health: the thresholds of the verdict on a run (ok, doubtful, unreliable; pipeline/mapping/health.py).

    Each number is the median over the run's frames; past the first threshold the run is doubtful, past the second
    unreliable. Calibrated on the synthetic walks (demo weights and ground truth: ok), a real street video, the
    Middlebury motorcycle and out-of-domain renders (docs/pipeline.md#perception-health)."""

    doubtful_measured_share: float = ranged(0.9, SHARE)  # frames whose pose was measured (odometry or held)
    unreliable_measured_share: float = ranged(0.5, SHARE)
    # |depth * scale - map| / map where the frame and the map both see the scene, after the frame's scale is fitted
    doubtful_depth_disagreement: float = ranged(0.08, NON_NEGATIVE)
    unreliable_depth_disagreement: float = ranged(0.15, NON_NEGATIVE)
    doubtful_semantic_confidence: float = ranged(0.85, SHARE)  # mean probability of each pixel's class
    unreliable_semantic_confidence: float = ranged(0.7, SHARE)
    doubtful_structure_share: float = ranged(0.25, SHARE)  # pixels labelled floor or wall: what the map stands on
    unreliable_structure_share: float = ranged(0.1, SHARE)
    doubtful_reasons_unreliable: int = ranged(2, AT_LEAST_ONE)  # this many doubtful numbers make a run unreliable

    def _relations(self) -> list[tuple[str, str]]:
        problems = []
        for name, lower_is_worse in (("measured_share", True), ("depth_disagreement", False),
                                     ("semantic_confidence", True), ("structure_share", True)):
            doubtful, unreliable = getattr(self, "doubtful_" + name), getattr(self, "unreliable_" + name)
            if (doubtful < unreliable) if lower_is_worse else (doubtful > unreliable):
                side = "at least" if lower_is_worse else "at most"
                problems.append((f"doubtful_{name}",
                                 f"must be {side} unreliable_{name} ({unreliable:g}), got {doubtful:g}"))
        return problems


@dataclass(frozen=True)
class Config:
    """All settings of a run."""

    input: InputConfig = field(default_factory=InputConfig)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    odometry: OdometryConfig = field(default_factory=OdometryConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    health: HealthConfig = field(default_factory=HealthConfig)


class _ConfigTypeError(Exception):
    pass


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (lists to tuples, dicts to dataclasses)."""
    origin, args = get_origin(tp), get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _ConfigTypeError(f"expected a mapping for section '{key}', got {type(value).__name__}")
        return _build(tp, value, source, key)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return _convert(option, value, key, source)
            except _ConfigTypeError:
                pass
        raise _ConfigTypeError(f"expected {_describe(tp)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise _ConfigTypeError(f"expected one of {list(args)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _ConfigTypeError(f"expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, key, source) for v in value)
        if len(value) != len(args):
            raise _ConfigTypeError(f"expected a list of {len(args)} values, got {value!r}")
        return tuple(_convert(a, v, key, source) for a, v in zip(args, value))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _ConfigTypeError(f"expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _ConfigTypeError(f"expected an integer, got {value!r}")
        return value
    if tp in (bool, str):
        if not isinstance(value, tp):
            raise _ConfigTypeError(f"expected {tp.__name__}, got {value!r}")
        return value
    raise TypeError(f"unsupported config annotation {tp!r} for '{key}'")


def _build(schema: type, data: dict, source: str, prefix: str = "") -> Any:
    hints = typing.get_type_hints(schema)
    names = [f.name for f in dataclasses.fields(schema)]
    values = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise InputError(source, f"unknown config key '{dotted}'{hint}")
        try:
            values[key] = _convert(hints[key], value, dotted, source)
        except _ConfigTypeError as error:
            raise InputError(source, f"config key '{dotted}': {error}") from None
    try:
        return schema(**values)
    except ConfigValueError as error:
        dotted = f"{prefix}.{error.key}" if prefix else error.key
        raise InputError(source, f"config key '{dotted}' {error.problem}") from None


def config_from_dict(data: dict | None, schema: type = Config, source: str = "<config>") -> Any:
    """Build ``schema`` from a (possibly partial) nested dict; missing keys keep their defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(source, "a config file must hold a mapping of sections")
    return _build(schema, data, source)


def load_config(path: str | os.PathLike | None = None, schema: type = Config) -> Any:
    """Load a YAML config into ``schema`` (defaults when ``path`` is None)."""
    if path is None:
        return schema()
    path = Path(path)
    require_file(path, "config")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(path, f"invalid YAML{where}") from None
    return config_from_dict(data, schema, str(path))


def config_to_dict(config: Any) -> dict:
    """Plain nested dict (tuples as lists) of a config dataclass, for run.json and YAML."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    return plain(config)


WRITE_DEFAULT = "python -m m2h_slam.core --write-default configs/default.yaml"
DEFAULT_YAML_HEADER = f"""\
Rewrite it with `{WRITE_DEFAULT}`.
Every key is optional in your own file: copy the sections you change. Unknown keys, wrong types and values out of
range are errors naming the key and the file. Units are in the names."""


def field_docs(schema: type) -> dict[str, str]:
    """Each field's documentation: the comment lines right above its declaration, then the comment on its line."""
    source = textwrap.dedent(inspect.getsource(schema))
    comments = {tok.start[0]: (tok.string[1:].strip(), tok.line.strip().startswith("#"))
                for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
    docs = {}
    for node in ast.parse(source).body[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        row, above = node.lineno - 1, []
        while row in comments and comments[row][1]:
            above.insert(0, comments[row][0])
            row -= 1
        rows = range(node.lineno, node.end_lineno + 1)
        after = [comments[r][0] for r in rows if r in comments and not comments[r][1]]
        docs[node.target.id] = " ".join(above + after)
    return docs


def _yaml_value(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=math.inf)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _yaml_lines(config: Any, indent: str = "") -> list[str]:
    lines = []
    docs = field_docs(type(config))
    for f in dataclasses.fields(config):
        value, doc = getattr(config, f.name), re.sub(r"\bNone\b", "null", docs.get(f.name, ""))  # YAML's word
        if dataclasses.is_dataclass(value):
            summary = (type(value).__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
            lines += [""] + [f"{indent}# {line}" for line in textwrap.wrap(summary, 118 - len(indent))]
            lines += [f"{indent}{f.name}:", *_yaml_lines(value, indent + "  ")]
            continue
        line = f"{indent}{f.name}: {_yaml_value(config_to_dict(value) if isinstance(value, tuple) else value)}"
        if doc and len(line.ljust(30)) + 3 + len(doc) <= 120:
            line = f"{line.ljust(30)} # {doc}"
        elif doc:
            lines += [f"{indent}# {part}" for part in textwrap.wrap(doc, 118 - len(indent))]
        lines.append(line)
    return lines


def default_yaml(schema: type = Config, title: str = "m2h-slam's default configuration") -> str:
    """The YAML text of ``schema``'s defaults, each key commented with its field's documentation: the source of
    ``configs/default.yaml`` (``WRITE_DEFAULT`` rewrites it)."""
    header = [f"# {title}, generated from the dataclasses in {schema.__module__.replace('.', '/')}.py: do not edit.",
              *(f"# {line}" for line in DEFAULT_YAML_HEADER.splitlines())]
    return "\n".join(header + _yaml_lines(schema())) + "\n"
