"""The torch-free back end, in two subsystems with different lifecycles.

- ``pipeline.mapping``: every frame. Odometry, masks, moving things, the semantic TSDF; ``Mapper``.
- ``pipeline.scene_graph``: periodically, from a read-only view of the map. Objects, agents, free space,
  places, rooms, the map frame, the networkx graph and its exports; ``SceneGraphBuilder``.

``SceneMapper`` (``pipeline.scene_mapper``) runs both behind one object: frames and predictions in; trajectory,
map and scene graph out.
"""

from pipeline.mapping.mapper import Mapper, MapResult, StepResult
from pipeline.scene_mapper import SceneMapper, SceneResult

__all__ = ["MapResult", "Mapper", "SceneMapper", "SceneResult", "StepResult"]
