"""The synthetic indoor world: procedural apartments, furniture, walking people,
camera paths, and ray-cast frames with exact ground truth (``m2h-slam synth``)."""

from m2h_slam.synthetic.export import SYNTHETIC_OUTPUTS, write_synthetic
from m2h_slam.synthetic.render import Renderer, RenderOptions
from m2h_slam.synthetic.world import World, WorldSpec, generate_world

__all__ = ["SYNTHETIC_OUTPUTS", "Renderer", "RenderOptions", "World", "WorldSpec", "generate_world", "write_synthetic"]
