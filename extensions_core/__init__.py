"""The extension system: manifests, discovery, lifecycle, API, tasks (a Django app)."""
