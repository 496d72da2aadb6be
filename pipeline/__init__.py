"""The mapping back end (torch-free): masks, odometry, semantic TSDF fusion, ``Mapper``."""

from pipeline.mapper import MapResult, Mapper, StepResult

__all__ = ["MapResult", "Mapper", "StepResult"]
