/* threads.c: how the kernels run a job over a team of threads, and
 * per-thread scratch buffers. Every job runs on the calling thread. */
#if !defined(_WIN32)
#define _GNU_SOURCE
#endif
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#define PG_HAVE_PTHREADS 1
#include <pthread.h>
#else
#define PG_HAVE_PTHREADS 0
#endif

int pg__threads_for(int64_t work, int64_t grain) {
    (void)work, (void)grain;
    return 1;
}

void pg__parallel(pg_job_fn fn, void *ctx, int nthr) {
    (void)nthr;
    pg_team solo = {0, 1};
    fn(ctx, &solo);
}

void pg__team_sync(const pg_team *team) { (void)team; }

/* ---- per-thread scratch ---- */

typedef struct pg_scratch {
    void *raw[PG_SCRATCH_SLOTS];
    size_t cap[PG_SCRATCH_SLOTS];
} pg_scratch;

#define PG_SCRATCH_ALIGN 64

static void *pg__scratch_grow(pg_scratch *s, int slot, size_t nbytes) {
    if (nbytes > s->cap[slot]) {
        free(s->raw[slot]);
        s->cap[slot] = 0;
        s->raw[slot] = malloc(nbytes + PG_SCRATCH_ALIGN);
        if (!s->raw[slot]) return NULL;
        s->cap[slot] = nbytes;
    }
    uintptr_t p = (uintptr_t)s->raw[slot];
    return (void *)((p + PG_SCRATCH_ALIGN - 1) & ~(uintptr_t)(PG_SCRATCH_ALIGN - 1));
}

#if PG_HAVE_PTHREADS

static pthread_key_t pg_scratch_key;
static pthread_once_t pg_scratch_once = PTHREAD_ONCE_INIT;
static int pg_scratch_key_ok;

static void pg__scratch_free(void *p) {
    pg_scratch *s = p;
    for (int i = 0; i < PG_SCRATCH_SLOTS; i++) free(s->raw[i]);
    free(s);
}
static void pg__scratch_key_init(void) {
    pg_scratch_key_ok = pthread_key_create(&pg_scratch_key, pg__scratch_free) == 0;
}

void *pg__scratch(int slot, size_t nbytes) {
    pthread_once(&pg_scratch_once, pg__scratch_key_init);
    if (!pg_scratch_key_ok || slot < 0 || slot >= PG_SCRATCH_SLOTS) return NULL;
    pg_scratch *s = pthread_getspecific(pg_scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        if (pthread_setspecific(pg_scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    return pg__scratch_grow(s, slot, nbytes);
}

#else

static _Thread_local pg_scratch pg_tls_scratch;

void *pg__scratch(int slot, size_t nbytes) {
    if (slot < 0 || slot >= PG_SCRATCH_SLOTS) return NULL;
    return pg__scratch_grow(&pg_tls_scratch, slot, nbytes);
}

#endif
