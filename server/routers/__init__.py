"""The HTTP routes, one router per resource: page (health, web map), models, jobs, uploads, scenes + tiles."""
