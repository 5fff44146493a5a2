"""Pure helpers behind ``hami run``: parse GPU caps, build the child's environment, find libvgpu.

Nothing here talks to a GPU or parses command lines; ``hami.cmd.run`` wires these to click and NVML.
"""
