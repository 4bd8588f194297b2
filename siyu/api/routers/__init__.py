"""API routers: one per resource, each a thin caller of the services."""
