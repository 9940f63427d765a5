/*
 * Behaviour of libascendcl.so in the simulated Ascend lab (NOT Huawei code): AscendCL's process and device entry
 * points, answered the way the real library answers on a server whose driver finds no NPU.  Every other symbol of the
 * library is a generated stub (ascend_env/lab/cann_libs.py).  Return codes are acl_base.h's:
 *
 *  aclInit            0; a second call ACL_ERROR_REPEAT_INITIALIZE (100002).  Initialisation does not open a device.
 *  aclFinalize        0 after aclInit; otherwise ACL_ERROR_REPEAT_FINALIZE (100037).
 *  aclrtGetDeviceCount  the runtime's answer: count 0, ACL_ERROR_RT_NO_DEVICE (207004) -- torch_npu then raises
 *                     "NPU function error: aclrtGetDeviceCount(&device_count), error code is 207004"
 *                     (gpustack/gpustack#3352).
 *  aclrtSetDevice     ACL_ERROR_RT_INVALID_DEVICEID (107001) for every id: there is no device 0 (same issue).
 *  aclrtGetDevice     ACL_ERROR_RT_CONTEXT_NULL (107002): no device was set.
 *  aclrtResetDevice   ACL_ERROR_RT_INVALID_DEVICEID (107001).
 *  aclGetRecentErrMsg the text of the last error (EE1001 ... TraceBack ...), once; NULL when there is none.
 *  aclrtGetSocName    NULL: the SoC name is read from a device, and there is none.
 *  aclrtSetExceptionInfoCallback  0: registering the task-exception callback needs no device (MindSpore registers it
 *                     before it sets one).
 *  aclAppLog          application log: written to stdout when ASCEND_SLOG_PRINT_TO_STDOUT=1 (CANN's switch),
 *                     dropped otherwise (the real library writes it to the plog files under ~/ascend/log).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACL_ERROR_REPEAT_INITIALIZE 100002
#define ACL_ERROR_REPEAT_FINALIZE 100037
#define ACL_ERROR_RT_INVALID_DEVICEID 107001

int rtGetDeviceCount(int32_t *count);
int rtSetDevice(int32_t device);
int rtGetDevice(int32_t *device);
void __ascend_lab_record_error(const char *code, const char *reason, const char *trace_fmt, ...);
const char *__ascend_lab_recent_error(void);

static int lab_initialized;

int aclInit(const char *configPath)
{
    (void)configPath;
    if (lab_initialized)
        return ACL_ERROR_REPEAT_INITIALIZE;
    lab_initialized = 1;
    return 0;
}

int aclFinalize(void)
{
    if (!lab_initialized)
        return ACL_ERROR_REPEAT_FINALIZE;
    lab_initialized = 0;
    return 0;
}

int aclrtGetDeviceCount(uint32_t *count)
{
    int32_t n = 0;
    int rc = rtGetDeviceCount(&n);
    if (count != NULL)
        *count = (uint32_t)(n < 0 ? 0 : n);
    return rc;
}

int aclrtSetDevice(int32_t deviceId)
{
    return rtSetDevice(deviceId);
}

int aclrtGetDevice(int32_t *deviceId)
{
    return rtGetDevice(deviceId);
}

int aclrtResetDevice(int32_t deviceId)
{
    (void)deviceId;
    return ACL_ERROR_RT_INVALID_DEVICEID;
}

const char *aclGetRecentErrMsg(void)
{
    return __ascend_lab_recent_error();
}

const char *aclrtGetSocName(void)
{
    return NULL;
}

void aclAppLog(int logLevel, const char *func, const char *file, uint32_t line, const char *fmt, ...)
{
    static const char *levels[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
    const char *to_stdout = getenv("ASCEND_SLOG_PRINT_TO_STDOUT");
    va_list ap;
    if (to_stdout == NULL || strcmp(to_stdout, "1") != 0 || fmt == NULL)
        return;
    printf("[%s] APP(%s:%u) %s: ", (logLevel >= 0 && logLevel <= 3) ? levels[logLevel] : "EVENT",
           file ? file : "?", line, func ? func : "?");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

typedef void (*aclrtExceptionInfoCallback)(void *exceptionInfo);

int aclrtSetExceptionInfoCallback(aclrtExceptionInfoCallback callback)
{
    (void)callback;
    return 0;
}
