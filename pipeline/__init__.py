"""The torch-free back end, in two subsystems with different lifecycles.

- ``pipeline.mapping``: every frame. Odometry, masks, moving things, the semantic TSDF; ``Mapper``.
- ``pipeline.scene_graph``: periodically, from a read-only view of the map. Objects, agents, free space,
  places, rooms, the map frame, the networkx graph and its exports; ``SceneGraphBuilder``.
"""

from pipeline.mapping.mapper import MapResult, Mapper, StepResult

__all__ = ["MapResult", "Mapper", "StepResult"]
