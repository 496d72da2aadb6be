"""Per-frame mapping: odometry, fusion masks, moving things, semantic TSDF fusion, and the ``Mapper`` that runs them."""
