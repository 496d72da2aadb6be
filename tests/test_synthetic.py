"""The synthetic world: geometry agrees with its ground truth, output is deterministic,
rooms tile the floor, people stay out of walls, edges lie on label boundaries."""

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from m2h_slam.core.geometry import backproject, transform_points
from m2h_slam.core.o3d import open3d
from m2h_slam.core.polygons import points_in_polygon, polygon_area
from m2h_slam.formats.ply_io import read_labelled_ply
from m2h_slam.sources import open_sequence
from m2h_slam.synthetic import WorldSpec, generate_world, write_synthetic
from m2h_slam.synthetic.paths import clearance_map

SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "scene-graph.schema.json"


@pytest.fixture(scope="module")
def written(apartments):
    spec = WorldSpec(seed=5, frames=24, fps=10.0, rooms=4, people=3, move_object=True)
    return apartments(spec, size=(160, 120)), spec


def _scene(mesh):
    o3d = open3d()
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)), o3d.core.Tensor(mesh.triangles.astype(np.uint32)))
    return scene


def test_depth_lands_on_mesh_and_normals_match_faces(written):
    out, _ = written
    mesh = read_labelled_ply(out / "mesh.ply")
    graph = json.loads((out / "scene_graph.json").read_text())
    dynamic = {a["id"] for a in graph["agents"]} | {o["id"] for o in graph["objects"] if "moved" in o}
    scene, o3d = _scene(mesh), open3d()
    distances, dots = [], []
    for frame in list(open_sequence(out))[::4]:
        valid = (frame.depth_m > 0) & ~np.isin(frame.instances, list(dynamic))
        points = transform_points(frame.world_T_camera, backproject(frame.depth_m, frame.intrinsics)[valid])
        closest = scene.compute_closest_points(o3d.core.Tensor(points.astype(np.float32)))
        distances.append(np.linalg.norm(closest["points"].numpy() - points, axis=1))
        world_normals = frame.normals[valid] @ frame.world_T_camera[:3, :3].T
        dots.append(np.abs(np.sum(world_normals * closest["primitive_normals"].numpy(), axis=1)))
    distances, dots = np.concatenate(distances), np.concatenate(dots)
    assert len(distances) > 10_000
    assert np.median(distances) < 1e-3  # depth is stored in whole millimetres
    assert np.quantile(dots, 0.98) > 0.999 and np.median(dots) > 0.9999


def test_every_instance_has_one_class_matching_the_scene_graph(written):
    out, _ = written
    graph = json.loads((out / "scene_graph.json").read_text())
    declared = {o["id"]: o["class_id"] for o in graph["objects"]} | {a["id"]: 31 for a in graph["agents"]}
    seen: dict[int, set] = {}
    for frame in open_sequence(out):
        pairs = np.unique(np.stack([frame.instances.ravel(), frame.semantics.ravel()]), axis=1)
        for instance, cls in pairs.T:
            seen.setdefault(int(instance), set()).add(int(cls))
    assert all(len(classes) == 1 for classes in seen.values())
    objects_seen = [i for i in seen if i in declared]
    assert len(objects_seen) >= 3
    assert all(seen[i] == {declared[i]} for i in objects_seen)
    assert seen.get(0, {0}) == {0}  # every pixel hits something labelled


def test_mesh_labels_and_scene_graph_schema(written):
    import jsonschema

    out, _ = written
    graph = json.loads((out / "scene_graph.json").read_text())
    jsonschema.validate(graph, json.loads(SCHEMA.read_text()))
    mesh = read_labelled_ply(out / "mesh.ply")
    static_objects = {o["id"]: o["class_id"] for o in graph["objects"] if "moved" not in o}
    for instance, cls in static_objects.items():
        assert set(mesh.labels[mesh.instances == instance]) == {cls}
    assert 31 not in set(mesh.labels)  # people are not part of the static mesh


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_apartment(tmp_path):
    spec = WorldSpec(seed=11, frames=4, rooms=3, people=1, move_object=True)
    a, b = (write_synthetic(tmp_path / name, spec, size=(64, 48), progress=False) for name in "ab")
    assert _digest(a) == _digest(b) and len(_digest(a)) > 20
    other = generate_world(WorldSpec(seed=12, frames=4, rooms=3))
    same = generate_world(spec)
    assert [r.footprint for r in other.apartment.rooms] != [r.footprint for r in same.apartment.rooms]


@pytest.mark.parametrize("seed,varied", [(seed, False) for seed in range(6)] + [(seed, True) for seed in range(3)])
def test_rooms_tile_the_floor_and_objects_lie_in_one_room(seed, varied):
    world = generate_world(WorldSpec(seed=seed, frames=2, rooms=2 + seed % 5, people=0, varied_furniture=varied))
    from m2h_slam.synthetic.export import scene_graph_dict

    graph = scene_graph_dict(world)
    x0, y0, x1, y1 = world.apartment.bounds
    rng = np.random.default_rng(seed)
    samples = rng.uniform([x0, y0], [x1, y1], (20_000, 2))
    polygons = {room["id"]: np.array(room["footprint"]) for room in graph["rooms"]}
    membership = np.stack([points_in_polygon(p, samples) for p in polygons.values()])
    assert np.all(membership.sum(axis=0) == 1)  # every floor point in exactly one room
    area = sum(abs(polygon_area(p)) for p in polygons.values())
    assert area == pytest.approx((x1 - x0) * (y1 - y0))
    assert len(graph["objects"]) >= 3 * len(graph["rooms"]) - 2
    for obj in graph["objects"]:
        (cx, cy, _), (w, d, _), yaw = obj["box"]["center"], obj["box"]["extent"], obj["box"]["yaw_rad"]
        c, s = np.cos(yaw), np.sin(yaw)
        corners = np.array([[cx + c * u - s * v, cy + s * u + c * v] for u in (-w / 2, w / 2) for v in (-d / 2, d / 2)])
        rooms_containing = [rid for rid, p in polygons.items() if points_in_polygon(p, corners).all()]
        assert rooms_containing == [obj["room_id"]], obj


def test_varied_furniture_adds_forms_and_sizes_and_stays_deterministic():
    from m2h_slam.synthetic.furniture import CATALOGUE

    forms = {False: set(), True: set()}
    outside_range = 0
    for seed in range(6):
        spec = WorldSpec(seed=seed, frames=2, rooms=4, people=0)
        for varied in (False, True):
            world = generate_world(dataclasses.replace(spec, varied_furniture=varied))
            forms[varied] |= {(o.name, len(o.meshes)) for o in world.objects}
            if varied:
                again = generate_world(dataclasses.replace(spec, varied_furniture=True))
                assert all(np.array_equal(a.vertices, b.vertices) for x, y in zip(world.objects, again.objects)
                           for a, b in zip(x.meshes, y.meshes))
                ranges = [np.array(CATALOGUE[o.name].size) for o in world.objects]
                outside_range += sum(bool(np.any((o.extent < r[:, 0] - 1e-3) | (o.extent > r[:, 1] + 1e-3)))
                                     for o, r in zip(world.objects, ranges))
            else:
                plain_rooms = [r.footprint for r in world.apartment.rooms]
        assert [r.footprint for r in world.apartment.rooms] == plain_rooms  # only the furniture varies
    # Chairs, tables, beds, lamps, ... come in more forms (part counts) than the catalogue's one per item.
    assert len(forms[True] - forms[False]) >= 5
    assert outside_range >= 10


def test_people_walk_between_rooms_and_never_through_walls():
    spec = WorldSpec(seed=3, frames=600, fps=15.0, rooms=5, people=4)
    world = generate_world(spec)
    walls = np.array(world.apartment.walls)
    visited = set()
    for person in world.people:
        steps = np.linalg.norm(np.diff(person.xy, axis=0), axis=1)
        assert steps.max() <= 1.05 * person.speed_mps / spec.fps + 1e-9  # continuous, about 1 m/s
        assert 0.6 <= person.speed_mps <= 1.5
        t = np.linspace(0, 1, 12)[:, None, None]
        along = (person.xy[:-1] * (1 - t) + person.xy[1:] * t).reshape(-1, 2)  # 1 cm or finer
        in_wall = ((along[:, None, 0] >= walls[:, 0]) & (along[:, None, 0] <= walls[:, 2])
                   & (along[:, None, 1] >= walls[:, 1]) & (along[:, None, 1] <= walls[:, 3]))
        assert not in_wall.any()
        visited |= set(world.apartment.room_at(person.xy[:, 0], person.xy[:, 1]).tolist())
    assert len(visited - {0}) >= 3 and 0 not in visited
    # The camera keeps its distance from walls and furniture too.
    cmap = clearance_map(world.apartment, world.objects)
    assert cmap.clearance_at(world.world_T_camera[:, :2, 3]).min() > 0.25
    heights = world.world_T_camera[:, 2, 3]
    assert np.all(np.abs(heights - 1.5) < 0.05)


def test_edges_lie_on_label_boundaries(written):
    out, _ = written
    for frame in list(open_sequence(out))[:6]:
        key = frame.semantics.astype(np.int64) * 70_000 + frame.instances
        differs = np.zeros(key.shape, bool)
        differs[:, :-1] |= key[:, :-1] != key[:, 1:]
        differs[:-1] |= key[:-1] != key[1:]
        edges = frame.edges.astype(bool)
        assert edges.any() and np.array_equal(edges, differs)
        # Edge pixels are few: boundaries, not regions.
        assert edges.mean() < 0.1


def test_static_camera_and_moved_object():
    world = generate_world(WorldSpec(seed=2, frames=30, rooms=3, people=1, static_camera=True, move_object=True))
    assert np.allclose(world.world_T_camera, world.world_T_camera[0])
    moved = world.moved
    assert moved is not None and not np.allclose(moved.before.center, moved.after.center)
    centre = lambda meshes: np.vstack([m.vertices for m in meshes if m.instance_id == moved.before.instance_id]).mean(0)
    first, last = centre(world.dynamic_meshes(0)), centre(world.dynamic_meshes(29))
    assert np.allclose(first[:2], moved.before.center[:2], atol=0.3) and np.allclose(last[:2], moved.after.center[:2], atol=0.3)


def test_cli_synth(tmp_path):
    out = tmp_path / "s"
    result = run_cli("synth", str(out), "--frames", "3", "--size", "64x48", "--seed", "1", "-q")
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} >= {"sequence.yaml", "mesh.ply", "scene_graph.json", "preview.png", "rgb"}
    sequence = open_sequence(out)
    assert len(sequence) == 3 and sequence.intrinsics.size == (64, 48) and "edges" in sequence.ground_truth
    again = run_cli("synth", str(out), "--frames", "3")
    assert again.returncode == 2 and "not empty" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.parametrize("seed", [5, 7])
def test_static_camera_finds_a_room_with_space(seed):
    """The largest room can be too full of furniture for the camera: the next largest is used."""
    world = generate_world(WorldSpec(seed=seed, frames=5, rooms=3, people=0, static_camera=True))
    assert len(world.world_T_camera) == 5 and np.allclose(world.world_T_camera[0], world.world_T_camera[-1])


def test_domain_randomisation_changes_the_look_not_the_geometry(tmp_path):
    from m2h_slam.core.intrinsics import Intrinsics
    from m2h_slam.synthetic import Renderer, RenderOptions

    world = generate_world(WorldSpec(seed=21, frames=3, rooms=3, people=1))
    K = Intrinsics.from_fov(96, 72, 70.0)
    plain = Renderer(world, K).render(1)
    randomized, again = (Renderer(world, K, RenderOptions(randomize=True)).render(1) for _ in range(2))
    assert np.array_equal(randomized.rgb, again.rgb)  # deterministic per seed
    for name in ("depth_m", "semantics", "instances", "normals", "edges", "rooms"):
        assert np.array_equal(getattr(randomized, name), getattr(plain, name)), name
    assert np.abs(randomized.rgb.astype(int) - plain.rgb.astype(int)).mean() > 10
    other = Renderer(generate_world(WorldSpec(seed=22, frames=3, rooms=3, people=1)), K,
                     RenderOptions(randomize=True)).render(1)
    assert not np.array_equal(other.rgb, randomized.rgb)
    # a photographic texture: the largest surface is not one flat colour
    wall = randomized.instances == np.bincount(randomized.instances.ravel()).argmax()
    assert randomized.rgb[wall].std(axis=0).mean() > 1.0


def test_a_window_never_overshoots_its_wall():
    world = generate_world(WorldSpec(seed=801, frames=2, rooms=3))  # crashed: a width rounded past its wall
    for x0, y0, z0, x1, y1, z1 in world.apartment.windows:
        assert max(x1 - x0, y1 - y0) <= 2.0 + 1e-9 and z1 > z0


def test_torch_raycaster_renders_what_open3d_renders():
    """Where Open3D is missing (GPU training machines) the renderer can cast rays with PyTorch: same frames."""
    from m2h_slam.core.intrinsics import Intrinsics
    from m2h_slam.synthetic import Renderer, RenderOptions
    from m2h_slam.train.raycast_torch import TorchRaycaster

    world = generate_world(WorldSpec(seed=21, frames=6, rooms=3, people=2, move_object=True))
    K = Intrinsics.from_fov(64, 48, 70.0)
    reference = [Renderer(world, K, RenderOptions(randomize=True)).render(i) for i in (0, 5)]
    renderer = Renderer(world, K, RenderOptions(randomize=True), raycaster=TorchRaycaster)
    for expected, frame in zip(reference, (renderer.render(i) for i in (0, 5))):
        assert np.array_equal(frame.semantics, expected.semantics) and np.array_equal(frame.instances, expected.instances)
        assert np.abs(frame.depth_m - expected.depth_m).max() < 1e-4
        assert np.abs(frame.normals - expected.normals).max() < 1e-4
        # a photographic texel can flip where the hit point moves by 1e-6 m
        assert (np.abs(frame.rgb.astype(int) - expected.rgb) > 2).mean() < 0.01
    assert (reference[0].instances > 0).mean() > 0.9 and len(np.unique(reference[0].semantics)) > 3


def test_torch_raycaster_hits_like_a_ray_triangle_test():
    from m2h_slam.train.raycast_torch import TorchRaycaster

    # one triangle in the plane z = 2 and one behind it at z = 5
    vertices = np.array([[0, 0, 2], [1, 0, 2], [0, 1, 2], [-5, -5, 5], [5, -5, 5], [0, 5, 5]], float)
    caster = TorchRaycaster(vertices, np.array([[0, 1, 2], [3, 4, 5]]))
    rays = np.array([[0.2, 0.2, 0, 0, 0, 1],  # hits the near triangle at t = 2
                     [0.2, 0.2, 0, 0, 0, 2],  # direction of length 2: t = 1
                     [0.8, 0.8, 0, 0, 0, 1],  # outside the near one (u + v > 1): the far one at 5
                     [0.2, 0.2, 3, 0, 0, 1],  # starts between them: the far one
                     [0.2, 0.2, 0, 0, 0, -1],  # points away: nothing
                     [9, 9, 0, 0, 0, 1]], np.float32)
    t, ids, normals = caster.cast(rays)
    assert np.allclose(t[:4], [2, 1, 5, 2]) and np.isinf(t[4:]).all()
    assert ids.tolist() == [0, 0, 1, 1, -1, -1]
    assert np.allclose(np.abs(normals[:4, 2]), 1) and not normals[4:].any()
