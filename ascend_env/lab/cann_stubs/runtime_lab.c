/*
 * Behaviour of libruntime.so in the simulated Ascend lab (NOT Huawei code): the device queries of CANN's runtime,
 * answered the way the real runtime answers them on a server whose driver finds no device.  The rest of the
 * library's symbols are generated stubs (ascend_env/lab/cann_libs.py).
 *
 *  rtGetDeviceCount  asks the driver (drvGetDevNum, libascend_hal.so); with no device: count 0 and
 *                    ACL_ERROR_RT_NO_DEVICE (207004), reported as "rtGetDeviceCount execute failed,
 *                    reason=[driver error:no valid device]" -- gpustack/gpustack#3352 (CANN 8.x, torch_npu
 *                    "aclrtGetDeviceCount(&device_count), error code is 207004").
 *  rtSetDevice       a device id at or past the count: ACL_ERROR_RT_INVALID_DEVICEID (107001), "rtSetDevice
 *                    execute failed, reason=[device id error]" / "open device N failed, runtime result = 107001."
 *                    (same issue).
 *  rtGetDevice       no device set in this thread: ACL_ERROR_RT_CONTEXT_NULL (107002).
 *
 * The runtime keeps the text of the last error per thread; libascendcl.so's aclGetRecentErrMsg() returns it (the
 * real one returns the error-manager text and clears it).  __ascend_lab_* symbols are the lab's own.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define ACL_ERROR_RT_INVALID_DEVICEID 107001
#define ACL_ERROR_RT_CONTEXT_NULL 107002
#define ACL_ERROR_RT_NO_DEVICE 207004

int drvGetDevNum(uint32_t *num_dev);

static __thread char lab_recent[2048];
static __thread int lab_has_recent;
static __thread int lab_current_device = -1;

/* "EE1001: [PID: 42] 2025-11-18-09:33:13.673.064 <reason>\n        TraceBack (most recent call last):\n        <trace>" */
void __ascend_lab_record_error(const char *code, const char *reason, const char *trace_fmt, ...)
{
    struct timeval tv;
    struct tm tm;
    char stamp[64];
    size_t used;
    va_list ap;

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    snprintf(stamp, sizeof stamp, "%04d-%02d-%02d-%02d:%02d:%02d.%03ld.%03ld", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000), (long)(tv.tv_usec % 1000));
    used = (size_t)snprintf(lab_recent, sizeof lab_recent, "%s: [PID: %d] %s %s\n        TraceBack (most recent call last):\n        ",
                            code, (int)getpid(), stamp, reason);
    if (used < sizeof lab_recent) {
        va_start(ap, trace_fmt);
        vsnprintf(lab_recent + used, sizeof lab_recent - used, trace_fmt, ap);
        va_end(ap);
    }
    lab_has_recent = 1;
}

const char *__ascend_lab_recent_error(void)
{
    if (!lab_has_recent)
        return NULL;
    lab_has_recent = 0;
    return lab_recent;
}

int rtGetDeviceCount(int32_t *count)
{
    uint32_t n = 0;
    int drv = drvGetDevNum(&n);
    if (count != NULL)
        *count = (int32_t)n;
    if (drv != 0 || n == 0) {
        __ascend_lab_record_error("EE1001", "The argument is invalid.Reason: rtGetDeviceCount execute failed, "
                                  "reason=[driver error:no valid device]",
                                  "rtGetDeviceCount execute failed, reason=[driver error:no valid device]"
                                  "[FUNC:FuncErrorReason][FILE:error_message_manage.cc][LINE:53]\n"
                                  "        get device count failed, runtime result = %d.[FUNC:ReportCallError]"
                                  "[FILE:log_inner.cpp][LINE:161]\n", ACL_ERROR_RT_NO_DEVICE);
        return ACL_ERROR_RT_NO_DEVICE;
    }
    return 0;
}

int rtSetDevice(int32_t device)
{
    int32_t n = 0;
    rtGetDeviceCount(&n);
    if (device < 0 || device >= n) {
        __ascend_lab_record_error("EE1001", "The argument is invalid.Reason: rtSetDevice execute failed, "
                                  "reason=[device id error]",
                                  "rtSetDevice execute failed, reason=[device id error][FUNC:FuncErrorReason]"
                                  "[FILE:error_message_manage.cc][LINE:53]\n"
                                  "        open device %d failed, runtime result = %d.[FUNC:ReportCallError]"
                                  "[FILE:log_inner.cpp][LINE:161]\n", (int)device, ACL_ERROR_RT_INVALID_DEVICEID);
        return ACL_ERROR_RT_INVALID_DEVICEID;
    }
    lab_current_device = device; /* unreachable in the lab: there is never a device */
    return 0;
}

int rtGetDevice(int32_t *device)
{
    if (lab_current_device < 0)
        return ACL_ERROR_RT_CONTEXT_NULL;
    if (device != NULL)
        *device = lab_current_device;
    return 0;
}
