"""Surfaces: one sub-package per API over the one engine (docs/design.md, "Adding a
surface").

A scenario and the reply engine decide *what* the model says; a surface says how one
API spells it: its request read into the neutral view the conditions see, the reply
written as its JSON, its stream and its errors. :func:`builtin_surfaces` lists the
surfaces a server mounts; the http layer registers each one's :class:`Route` s.
"""

from __future__ import annotations

from .base import Call, Engine, EventStream, Route, Surface
from .chat import ChatSurface
from .messages import MessagesSurface
from .responses import ResponsesSurface

__all__ = ["Call", "Engine", "EventStream", "Route", "Surface", "builtin_surfaces"]


def builtin_surfaces() -> tuple[Surface, ...]:
    """The surfaces every server serves, in the order their routes are added."""
    return (ChatSurface(), ResponsesSurface(), MessagesSurface())
