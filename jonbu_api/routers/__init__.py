"""One router per resource; :func:`jonbu_api.main.create_app` mounts them."""
