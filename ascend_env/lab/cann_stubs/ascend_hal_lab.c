/*
 * libascend_hal.so for the simulated Ascend lab (NOT Huawei code): the driver's device-management library, as far as
 * the lab's CANN stubs use it.  It lives where the real one does, /usr/local/Ascend/driver/lib64/driver, so that a
 * process without that directory on LD_LIBRARY_PATH fails to load CANN exactly as on a real server:
 *   ImportError: libascend_hal.so: cannot open shared object file: No such file or directory
 * (the message users meet when the driver directory is missing from the environment; e.g. the ktransformers and
 * triton-ascend install notes quoted in docs/lab.md).
 *
 * drvGetDevNum() asks the driver the way the real library does: through the management node /dev/davinci_manager.
 * On a lab host that node exists but belongs to no loaded driver (char major 240-243, Linux's local/experimental
 * range), so opening it fails with ENXIO -- and in a container without the node, with ENOENT.  Either way there is
 * no device, and the answer is DRV_ERROR_NO_DEVICE (1, "no valid device" in ascend_hal_error.h), the error the
 * runtime reports as "rtGetDeviceCount execute failed, reason=[driver error:no valid device]"
 * (gpustack/gpustack#3352).  What the real library returns when the node is missing is not documented; the lab
 * gives the same "no valid device".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DRV_ERROR_NONE 0
#define DRV_ERROR_NO_DEVICE 1
#define DRV_ERROR_INVALID_VALUE 3

/* The management node this process may look at.  Safety (the lab never touches a real /dev/davinci*): inside a lab
 * container (the base image's marker file) the container's own /dev/davinci_manager, which is the lab host's node;
 * in a session on a lab host (ASCEND_ENV_HOST_ROOT, set by the host's sshd) that host's node under its root; nowhere
 * else -- a process outside the lab never opens a node at all. */
static int manager_path(char *out, size_t size)
{
    const char *root = getenv("ASCEND_ENV_HOST_ROOT");
    if (access("/etc/ascend-env-lab/container", F_OK) == 0)
        return snprintf(out, size, "/dev/davinci_manager") < (int)size ? 0 : -1;
    if (root != NULL && root[0] == '/')
        return snprintf(out, size, "%s/dev/davinci_manager", root) < (int)size ? 0 : -1;
    return -1;
}

int drvGetDevNum(uint32_t *num_dev)
{
    char path[4096];
    int fd;
    if (num_dev == NULL)
        return DRV_ERROR_INVALID_VALUE;
    *num_dev = 0;
    if (manager_path(path, sizeof path) == 0) {
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd >= 0) /* a node that opens still has no lab device behind it */
            close(fd);
    }
    return DRV_ERROR_NO_DEVICE;
}

/* the device ids of the devices found: none */
int drvGetDevIDs(uint32_t *devices, uint32_t len)
{
    (void)devices;
    (void)len;
    return DRV_ERROR_NO_DEVICE;
}

/* halGetDeviceInfo(devId, moduleType, infoType, *value): every device id is invalid without devices */
int halGetDeviceInfo(uint32_t dev_id, int32_t module_type, int32_t info_type, int64_t *value)
{
    (void)dev_id;
    (void)module_type;
    (void)info_type;
    if (value != NULL)
        *value = 0;
    return DRV_ERROR_NO_DEVICE;
}
