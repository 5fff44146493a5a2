"""The vNPU template table of one model: rounding a memory ask up to what the NPU can cut.

In template (hard split) mode an NPU is cut into fixed templates (``vir05_1c_16g`` ...); a
memory ask becomes the smallest template holding it, or the whole card when no template is big
enough but the card is (vendors spec §5.8). The runtime JSON names the template the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from hami.config.vendors import AscendModelConfig


@dataclass(frozen=True, slots=True)
class Rounded:
    """A memory ask rounded: MiB to reserve and the template name ("" for the whole card).

    ``memory`` 0 means the ask fits neither a template nor the card."""

    memory: int
    template: str


def round_memory(cfg: AscendModelConfig, mib: int) -> Rounded:
    """The first template (by memory) holding ``mib``; else the whole card
    (``memoryAllocatable``) while ``mib <= memoryCapacity``; else nothing (memory 0)."""
    for template in cfg.sorted_templates:
        if mib <= template.memory:
            return Rounded(template.memory, template.name)
    if mib <= cfg.memory_capacity:
        return Rounded(cfg.memory_allocatable, "")
    return Rounded(0, "")


def template_name(cfg: AscendModelConfig, mib: int) -> str:
    """Template to cut for a device holding ``mib`` MiB ("" for a whole card)."""
    return round_memory(cfg, mib).template
