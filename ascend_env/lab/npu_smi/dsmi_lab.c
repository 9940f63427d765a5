/*
 * libdrvdsmi_host.so for the simulated Ascend lab (NOT Huawei code).
 *
 * The real npu-smi is linked against /usr/local/Ascend/driver/lib64/driver/libdrvdsmi_host.so without an
 * rpath, which is why users see
 *   npu-smi: error while loading shared libraries: libdrvdsmi_host.so: cannot open shared object file: ...
 * until that directory is on LD_LIBRARY_PATH (zzudongxiang/ascend.docker: README.md section 3.3).  This library
 * reproduces only that dependency: dsmi_lab_main() finds the directory it was loaded from (dladdr) and execs
 * `python3 <libdir>/lab_npu_smi_impl.py argv[1:]`, passing the original argv[0] in LAB_NPU_SMI_ARGV0.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IMPL_NAME "lab_npu_smi_impl.py"

static int find_in_path(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");
    if (path == NULL || *path == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0 && len + 1 + strlen(name) + 1 <= size) {
            memcpy(out, path, len);
            out[len] = '/';
            strcpy(out + len + 1, name);
            if (access(out, X_OK) == 0)
                return 0;
        }
        if (end == NULL)
            break;
        path = end + 1;
    }
    return -1;
}

int dsmi_lab_main(int argc, char **argv)
{
    Dl_info info;
    char libdir[PATH_MAX];
    char impl[PATH_MAX];
    char python[PATH_MAX];
    const char *prog = (argc > 0 && argv[0] != NULL) ? argv[0] : "npu-smi";

    if (dladdr((void *)&dsmi_lab_main, &info) == 0 || info.dli_fname == NULL) {
        fprintf(stderr, "%s: cannot locate libdrvdsmi_host.so\n", prog);
        return 127;
    }
    if (realpath(info.dli_fname, libdir) == NULL) {
        fprintf(stderr, "%s: cannot resolve %s: %s\n", prog, info.dli_fname, strerror(errno));
        return 127;
    }
    char *slash = strrchr(libdir, '/');
    if (slash != NULL)
        *slash = '\0';
    if ((size_t)snprintf(impl, sizeof impl, "%s/%s", libdir, IMPL_NAME) >= sizeof impl) {
        fprintf(stderr, "%s: library path too long\n", prog);
        return 127;
    }
    if (find_in_path("python3", python, sizeof python) != 0) {
        fprintf(stderr, "%s: python3 not found on PATH (the simulated npu-smi runs %s)\n", prog, impl);
        return 127;
    }

    char **args = calloc((size_t)argc + 3, sizeof *args);
    if (args == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 127;
    }
    args[0] = "python3";
    args[1] = impl;
    for (int i = 1; i < argc; i++)
        args[i + 1] = argv[i];
    args[argc + 1] = NULL;
    setenv("LAB_NPU_SMI_ARGV0", prog, 1);
    execv(python, args);
    fprintf(stderr, "%s: cannot execute %s: %s\n", prog, python, strerror(errno));
    free(args);
    return 127;
}
