"""The scene graph, rebuilt periodically from the map: objects, agents, free space, places, rooms, the
gravity-aligned map frame, the networkx graph and its JSON / spark_dsg exports."""
