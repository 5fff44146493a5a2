"""NVIDIA GPUs (cw ``NVIDIA``): the vendor entry point is :func:`backends`."""

from hami.device.nvidia.backend import backends

__all__ = ["backends"]
