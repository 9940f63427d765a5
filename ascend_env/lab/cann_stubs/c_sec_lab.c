/*
 * libc_sec.so for the simulated Ascend lab (NOT Huawei code): the bounds-checking C library ("securec") that CANN and
 * the frameworks' Ascend modules call for string and memory work.  On a real server it is the driver's
 * /usr/local/Ascend/driver/lib64/common/libc_sec.so ("${INSTALL_DIR}/driver/lib64/common/libc_sec.so", CANN log
 * docs).  These are working implementations of the API of the open-source securec library (openEuler
 * libboundscheck, include/securec.h): the same signatures and return conventions -- EOK (0) on success, EINVAL /
 * ERANGE / EOVERLAP with the destination reset (errno | 0x80) on bad arguments, -1 from the printf family on error
 * or truncation.  Only the functions the lab's framework wheels reference are listed in cann_libs.C_SEC_FUNCTIONS;
 * the build refuses a wheel that needs one this file lacks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define EOK 0
#define SECUREC_STRING_MAX_LEN 0x7fffffffUL
#define SECUREC_MEM_MAX_LEN 0x7fffffffUL
#define RESET(e) ((e) | 0x80)
#ifndef EOVERLAP
#define EOVERLAP 54
#endif

typedef int errno_t;

static int overlap(const void *a, size_t alen, const void *b, size_t blen)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return (x < y + blen) && (y < x + alen);
}

errno_t memset_s(void *dest, size_t destMax, int c, size_t count)
{
    if (destMax == 0 || destMax > SECUREC_MEM_MAX_LEN)
        return ERANGE;
    if (dest == NULL)
        return EINVAL;
    if (count > destMax) {
        memset(dest, c, destMax);
        return RESET(ERANGE);
    }
    memset(dest, c, count);
    return EOK;
}

errno_t memcpy_s(void *dest, size_t destMax, const void *src, size_t count)
{
    if (destMax == 0 || destMax > SECUREC_MEM_MAX_LEN)
        return ERANGE;
    if (dest == NULL)
        return EINVAL;
    if (src == NULL) {
        memset(dest, 0, destMax);
        return RESET(EINVAL);
    }
    if (count > destMax) {
        memset(dest, 0, destMax);
        return RESET(ERANGE);
    }
    if (count && overlap(dest, count, src, count)) {
        memset(dest, 0, destMax);
        return RESET(EOVERLAP);
    }
    memcpy(dest, src, count);
    return EOK;
}

errno_t memmove_s(void *dest, size_t destMax, const void *src, size_t count)
{
    if (destMax == 0 || destMax > SECUREC_MEM_MAX_LEN)
        return ERANGE;
    if (dest == NULL || src == NULL) {
        if (dest != NULL)
            memset(dest, 0, destMax);
        return RESET(EINVAL);
    }
    if (count > destMax) {
        memset(dest, 0, destMax);
        return RESET(ERANGE);
    }
    memmove(dest, src, count);
    return EOK;
}

static errno_t copy_n(char *dest, size_t destMax, const char *src, size_t n)
{
    size_t len;
    if (destMax == 0 || destMax > SECUREC_STRING_MAX_LEN)
        return ERANGE;
    if (dest == NULL)
        return EINVAL;
    if (src == NULL) {
        dest[0] = '\0';
        return RESET(EINVAL);
    }
    len = strnlen(src, n);
    if (len >= destMax) {
        dest[0] = '\0';
        return RESET(ERANGE);
    }
    if (overlap(dest, len + 1, src, len + 1)) {
        dest[0] = '\0';
        return RESET(EOVERLAP);
    }
    memcpy(dest, src, len);
    dest[len] = '\0';
    return EOK;
}

errno_t strcpy_s(char *dest, size_t destMax, const char *src)
{
    return copy_n(dest, destMax, src, SECUREC_STRING_MAX_LEN);
}

errno_t strncpy_s(char *dest, size_t destMax, const char *src, size_t count)
{
    return copy_n(dest, destMax, src, count);
}

static errno_t cat_n(char *dest, size_t destMax, const char *src, size_t n)
{
    size_t have;
    if (destMax == 0 || destMax > SECUREC_STRING_MAX_LEN)
        return ERANGE;
    if (dest == NULL || src == NULL) {
        if (dest != NULL)
            dest[0] = '\0';
        return RESET(EINVAL);
    }
    have = strnlen(dest, destMax);
    if (have == destMax) {
        dest[0] = '\0';
        return RESET(EINVAL);
    }
    return copy_n(dest + have, destMax - have, src, n) == EOK ? EOK : (dest[0] = '\0', RESET(ERANGE));
}

errno_t strcat_s(char *dest, size_t destMax, const char *src)
{
    return cat_n(dest, destMax, src, SECUREC_STRING_MAX_LEN);
}

errno_t strncat_s(char *dest, size_t destMax, const char *src, size_t count)
{
    return cat_n(dest, destMax, src, count);
}

int vsnprintf_s(char *strDest, size_t destMax, size_t count, const char *format, va_list argList)
{
    int n;
    size_t limit;
    if (strDest == NULL || format == NULL || destMax == 0 || destMax > SECUREC_STRING_MAX_LEN) {
        if (strDest != NULL && destMax > 0 && destMax <= SECUREC_STRING_MAX_LEN)
            strDest[0] = '\0';
        return -1;
    }
    limit = count < destMax ? count + 1 : destMax;
    n = vsnprintf(strDest, limit, format, argList);
    if (n < 0)
        return -1;
    if ((size_t)n >= limit) /* truncated: securec returns -1 and keeps the truncated text */
        return -1;
    return n;
}

int snprintf_s(char *strDest, size_t destMax, size_t count, const char *format, ...)
{
    int n;
    va_list ap;
    va_start(ap, format);
    n = vsnprintf_s(strDest, destMax, count, format, ap);
    va_end(ap);
    return n;
}

int vsprintf_s(char *strDest, size_t destMax, const char *format, va_list argList)
{
    int n;
    if (strDest == NULL || format == NULL || destMax == 0 || destMax > SECUREC_STRING_MAX_LEN)
        return -1;
    n = vsnprintf(strDest, destMax, format, argList);
    if (n < 0 || (size_t)n >= destMax) {
        strDest[0] = '\0';
        return -1;
    }
    return n;
}

int sprintf_s(char *strDest, size_t destMax, const char *format, ...)
{
    int n;
    va_list ap;
    va_start(ap, format);
    n = vsprintf_s(strDest, destMax, format, ap);
    va_end(ap);
    return n;
}
