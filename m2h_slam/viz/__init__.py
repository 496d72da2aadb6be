"""Pictures for people: contact sheets, the scene graph from above, and the live rerun view."""
