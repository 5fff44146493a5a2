/* Prints the offset and size of every field of the shared region (v1 layout) as JSON. */
#include <stddef.h>
#include <stdio.h>

#include "vgpu_region.h"

static int first = 1;
static void field(const char *group, const char *name, size_t off, size_t size) {
    printf("%s\n    \"%s.%s\": {\"offset\": %zu, \"size\": %zu}", first ? "" : ",", group, name, off, size);
    first = 0;
}
#define F(group, type, member) field(group, #member, offsetof(type, member), sizeof(((type *)0)->member))

int main(void) {
    printf("{\n  \"sizes\": {\"region\": %zu, \"slot\": %zu, \"devmem\": %zu, \"devutil\": %zu},\n",
           sizeof(vgpu_region_t), sizeof(vgpu_slot_t), sizeof(vgpu_devmem_t), sizeof(vgpu_devutil_t));
    printf("  \"magic\": %d, \"major\": %u, \"minor\": %u,\n  \"fields\": {", VGPU_REGION_MAGIC,
           VGPU_REGION_MAJOR, VGPU_REGION_MINOR);
    F("region", vgpu_region_t, initialized_flag);
    F("region", vgpu_region_t, major_version);
    F("region", vgpu_region_t, minor_version);
    F("region", vgpu_region_t, sm_init_flag);
    F("region", vgpu_region_t, owner_pid);
    F("region", vgpu_region_t, sem);
    F("region", vgpu_region_t, device_num);
    F("region", vgpu_region_t, uuids);
    F("region", vgpu_region_t, limit);
    F("region", vgpu_region_t, sm_limit);
    F("region", vgpu_region_t, procs);
    F("region", vgpu_region_t, proc_num);
    F("region", vgpu_region_t, utilization_switch);
    F("region", vgpu_region_t, recent_kernel);
    F("region", vgpu_region_t, priority);
    F("region", vgpu_region_t, last_kernel_time);
    F("region", vgpu_region_t, sem_postinit);
    F("slot", vgpu_slot_t, pid);
    F("slot", vgpu_slot_t, hostpid);
    F("slot", vgpu_slot_t, used);
    F("slot", vgpu_slot_t, monitorused);
    F("slot", vgpu_slot_t, device_util);
    F("slot", vgpu_slot_t, status);
    F("slot", vgpu_slot_t, seqlock);
    F("slot", vgpu_slot_t, unused);
    F("devmem", vgpu_devmem_t, context_size);
    F("devmem", vgpu_devmem_t, module_size);
    F("devmem", vgpu_devmem_t, data_size);
    F("devmem", vgpu_devmem_t, offset);
    F("devmem", vgpu_devmem_t, total);
    F("devmem", vgpu_devmem_t, unused);
    F("devutil", vgpu_devutil_t, dec_util);
    F("devutil", vgpu_devutil_t, enc_util);
    F("devutil", vgpu_devutil_t, sm_util);
    F("devutil", vgpu_devutil_t, unused);
    printf("\n  }\n}\n");
    return 0;
}
