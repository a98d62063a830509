"""Handlers are given the use-case layer's Context (portside/control/context.py)."""

from ..control.context import Context

__all__ = ["Context"]
