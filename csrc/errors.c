/* errors.c: the thread-local error state behind pg_last_status / pg_last_error.
 * The library reports and returns; it never prints or aborts. */
#include "internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local pg_status pg_tls_status = PG_OK;
static _Thread_local char pg_tls_message[1024];

pg_status pg_last_status(void) { return pg_tls_status; }

const char *pg_last_error(void) { return pg_tls_message; }

void pg__clear_error(void) {
    pg_tls_status = PG_OK;
    pg_tls_message[0] = '\0';
}

pg_status pg__fail(pg_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pg_tls_message, sizeof pg_tls_message, fmt, ap);
    va_end(ap);
    pg_tls_status = code;
    return code;
}

/* "(2, 3)", "()" for 0-d, "(5,)" for 1-d: numpy's spelling, so messages match
 * what Python users see elsewhere. */
const char *pg__shape_str(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "(");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, ndim == 1 ? ",)" : ")");
    return buf;
}

/* p as Python prints a float (2.0, 0.5, inf, nan), for messages about float arguments */
const char *pg__py_float(double p, char *buf, size_t cap) {
    if (isinf(p) || isnan(p)) {
        snprintf(buf, cap, "%s%s", p < 0 && !isnan(p) ? "-" : "", isnan(p) ? "nan" : "inf");
        return buf;
    }
    for (int digits = 1; digits <= 17; digits++) { /* the shortest that reads back */
        snprintf(buf, cap, "%.*g", digits, p);
        if (strtod(buf, NULL) == p) break;
    }
    if (!strpbrk(buf, ".en")) strncat(buf, ".0", cap - strlen(buf) - 1);
    return buf;
}

void pg_set_error(pg_status code, const char *message) {
    pg__fail(code ? code : PG_ERR_CALLBACK, "%s", message ? message : "unknown error");
}
