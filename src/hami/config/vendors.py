"""Device-config sections of the non-NVIDIA vendors we schedule (vendors spec §2-§5).

Keys are HAMi's camelCase (as the chart's ConfigMap writes them) or our snake_case. A section
absent from the file gets the chart's defaults, so a file that only configures NVIDIA still
schedules Cambricon and Hygon pods with the chart's resource names (HAMi would leave the names
empty and ignore such pods). Ascend and Iluvatar are gated by the scheduler flags
``--enable-ascend`` / ``--enable-iluvatar``, as in HAMi.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class CambriconConfig(_Model):
    """``cambricon:`` section."""

    resource_count_name: str = Field("cambricon.com/vmlu", alias="resourceCountName")
    resource_memory_name: str = Field("cambricon.com/mlu.smlu.vmemory", alias="resourceMemoryName")
    resource_core_name: str = Field("cambricon.com/mlu.smlu.vcore", alias="resourceCoreName")


class HygonConfig(_Model):
    """``hygon:`` section."""

    resource_count_name: str = Field("hygon.com/dcunum", alias="resourceCountName")
    resource_memory_name: str = Field("hygon.com/dcumem", alias="resourceMemoryName")
    resource_core_name: str = Field("hygon.com/dcucores", alias="resourceCoreName")
    memory_factor: int = Field(1, alias="memoryFactor", ge=0)


class IluvatarChipConfig(_Model):
    """One entry of the ``iluvatars:`` list (one backend per chip)."""

    chip_name: str = Field(alias="chipName")
    common_word: str = Field(alias="commonWord")
    resource_count_name: str = Field(alias="resourceCountName")
    resource_memory_name: str = Field(alias="resourceMemoryName")
    resource_core_name: str = Field(alias="resourceCoreName")


def _iluvatar(cw: str) -> IluvatarChipConfig:
    return IluvatarChipConfig(
        chipName=cw,
        commonWord=cw,
        resourceCountName=f"iluvatar.ai/{cw}-vgpu",
        resourceMemoryName=f"iluvatar.ai/{cw}.vMem",
        resourceCoreName=f"iluvatar.ai/{cw}.vCore",
    )


DEFAULT_ILUVATARS = tuple(_iluvatar(cw) for cw in ("MR-V100", "MR-V50", "BI-V150", "BI-V100"))


class AscendTemplate(_Model):
    """A vNPU template: name, MiB, AI cores, AI CPUs (only memory matters to the scheduler)."""

    name: str
    memory: int = Field(ge=0)
    ai_core: int = Field(0, alias="aiCore")
    ai_cpu: int = Field(0, alias="aiCPU")


class AscendModelConfig(_Model):
    """One entry of ``vnpus.configs`` (one backend per model)."""

    chip_name: str = Field(alias="chipName")
    common_word: str = Field(alias="commonWord")
    resource_name: str = Field(alias="resourceName")
    resource_memory_name: str = Field(alias="resourceMemoryName")
    resource_core_name: str = Field("", alias="resourceCoreName")
    memory_allocatable: int = Field(alias="memoryAllocatable", ge=0)
    memory_capacity: int = Field(alias="memoryCapacity", ge=0)
    memory_factor: int = Field(1, alias="memoryFactor", ge=0)
    ai_core: int = Field(0, alias="aiCore")
    ai_cpu: int = Field(0, alias="aiCPU")
    runtime_class_name: str = Field("", alias="runtimeClassName")
    overwrite_env: bool = Field(False, alias="overwriteEnv")
    templates: tuple[AscendTemplate, ...] = ()
    super_pod: bool = Field(False, alias="superPod")

    @property
    def sorted_templates(self) -> tuple[AscendTemplate, ...]:
        """Templates by memory, smallest first (HAMi sorts them at init)."""
        return tuple(sorted(self.templates, key=lambda t: t.memory))


def _t(spec: str) -> AscendTemplate:
    name, rest = spec.split(":")
    nums = [int(x) for x in rest.split("/")]
    return AscendTemplate(
        name=name, memory=nums[0], aiCore=nums[1], aiCPU=nums[2] if len(nums) > 2 else 0
    )


def _ascend(
    cw: str, chip: str, alloc: int, cap: int, core: int, cpu: int, temps: str, **kw: object
) -> AscendModelConfig:
    return AscendModelConfig.model_validate(
        {
            "chipName": chip,
            "commonWord": cw,
            "resourceName": f"huawei.com/{cw}",
            "resourceMemoryName": f"huawei.com/{cw}-memory",
            "resourceCoreName": f"huawei.com/{cw}-core",
            "memoryAllocatable": alloc,
            "memoryCapacity": cap,
            "aiCore": core,
            "aiCPU": cpu,
            "templates": [_t(s).model_dump(by_alias=True) for s in temps.split()],
            **kw,
        }
    )


_B3 = "vir05_1c_16g:16384/5/1 vir10_3c_32g:32768/10/3"
DEFAULT_ASCEND = (
    _ascend("Ascend910A", "910A", 32768, 32768, 30, 0,
            "vir02:2184/2 vir04:4369/4 vir08:8738/8 vir16:17476/16"),
    _ascend("Ascend910B2", "910B2", 65536, 65536, 24, 6,
            "vir03_1c_8g:8192/3/1 vir06_1c_16g:16384/6/1 vir12_3c_32g:32768/12/3"),
    _ascend("Ascend910B3", "910B3", 65536, 65536, 20, 7, _B3),
    _ascend("Ascend910B4-1", "910B4-1", 65536, 65536, 20, 7, _B3),
    _ascend("Ascend910B4", "910B4", 32768, 32768, 20, 7,
            "vir05_1c_8g:8192/5/1 vir10_3c_16g:16384/10/3"),
    _ascend("Ascend310P", "310P3", 21527, 24576, 8, 7,
            "vir01:3072/1/1 vir02:6144/2/2 vir04:12288/4/4"),
    _ascend("Ascend910C", "Ascend910", 65536, 65536, 20, 7, _B3, superPod=True, memoryFactor=0),
)  # fmt: skip
"""The chart's ``devices.ascend`` models (vendors spec §5 table); 910C leaves memoryFactor
unset (0: no scaling)."""


class VnpuConfig(_Model):
    """``vnpus:`` section: Ascend models and the global hami-core switch."""

    hami_vnpu_core: bool = Field(False, alias="hamiVnpuCore")
    configs: tuple[AscendModelConfig, ...] = DEFAULT_ASCEND
