"""Compiling the geometry kernels on a thread once the extension is enabled: about 25 s the
first time after installing (later sessions load numba's cache), which a press made before it
ends waits for."""
from __future__ import annotations

import threading

from .stereo_geometry.warp import warm_up

KERNELS_THREAD = "disocclusion-infill kernels"


def start_kernels_warm_up() -> None:
    """Compile the geometry kernels on a thread (`stereo_geometry.warp.warm_up`)."""
    threading.Thread(target=warm_up, name=KERNELS_THREAD, daemon=True).start()


def kernels_warming_up() -> bool:
    """Whether the kernels' thread is still compiling."""
    return any(thread.name == KERNELS_THREAD and thread.is_alive() for thread in threading.enumerate())
