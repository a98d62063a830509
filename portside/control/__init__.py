"""Use cases shared by the API handlers and the schedulers."""
