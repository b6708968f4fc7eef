"""Attribute overrides that are undone on any exit: how the project changes Blender's state
(render settings, camera settings, the current frame) without leaving it changed. Plain
`getattr`/`setattr`, so it needs no bpy."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator


@contextmanager
def overridden(owner: Any, **values: Any) -> Iterator[Any]:
    """Set `owner`'s attributes to `values` for the block, then put back what they were,
    whatever happens in it; both in the order given (Blender settings that limit others come
    first: an image format's media type before its file format)."""
    saved = [(name, getattr(owner, name)) for name in values]
    done = []
    try:
        for name, value in values.items():
            setattr(owner, name, value)
            done.append(name)
        yield owner
    finally:
        for name, value in saved:
            if name in done:
                setattr(owner, name, value)


@contextmanager
def at_frame(scene: Any, frame: int) -> Iterator[Any]:
    """`scene` (a bpy Scene) at `frame` for the block, then back at the frame it was at."""
    current = scene.frame_current
    scene.frame_set(frame)
    try:
        yield scene
    finally:
        scene.frame_set(current)
