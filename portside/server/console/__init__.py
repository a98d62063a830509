"""The web console at /ui (server-rendered HTML, htmx for live updates)."""

from .app import ConsoleApp

__all__ = ["ConsoleApp"]
