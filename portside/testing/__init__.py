"""Helpers shipped with the product for tests and benchmarks (as httpx ships
its MockTransport): things that need no registry and no network."""
