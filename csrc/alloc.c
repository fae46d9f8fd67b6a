/* alloc.c: memory for storage buffers, with a cache of large ones.
 * Not a general allocator: blocks below PG_CACHE_MIN_BYTES go straight to
 * malloc/free (malloc already reuses small blocks), and nothing else in the
 * engine allocates through here.
 *
 * A fresh large buffer is new memory from the system: its first touch costs a
 * page fault per page and the kernel zeroing it, which for a memory-bound op
 * (a + b on 16M elements) costs as much as the op. So a freed block of at least
 * 1 MiB is kept, filed under its size class, and handed to the next request of
 * that class (as PyTorch's caching allocators and jemalloc do):
 *
 *   - size classes: four per power of two (1, 1.25, 1.5, 1.75, 2, 2.5 ... MiB,
 *     each with a page of headroom); a request is rounded up to its class, so
 *     a block is at most 25% larger than asked, and the tail past the request
 *     is never touched (never resident) unless a later, larger request of the
 *     class uses it;
 *   - the cache holds at most the limit (pg_set_cache_limit; default
 *     min(1 GiB, RAM / 4)); a block freed into a full cache pushes out the
 *     least recently freed blocks, which go back to the system;
 *   - a request the system refuses empties the cache and is tried once more;
 *   - one process-wide mutex: tensors are freed from any thread, and at these
 *     sizes a lock costs nothing next to the memory it guards.
 *
 * Bookkeeping lives outside the cached blocks (one small pg_block each), so
 * under AddressSanitizer a cached block is poisoned whole, and a block in use
 * is poisoned past the bytes asked for: a use after free, or an overflow past
 * the request, is still reported. */
#if defined(__linux__)
#define _GNU_SOURCE /* madvise, MADV_HUGEPAGE */
#endif
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define PG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PG_ASAN 1
#endif
#endif
#if defined(PG_ASAN)
#include <sanitizer/asan_interface.h>
#define PG_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define PG_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define PG_POISON(p, n) ((void)(p), (void)(n))
#define PG_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define PG_CACHE_MIN_SHIFT 20
#define PG_CACHE_MIN_BYTES ((size_t)1 << PG_CACHE_MIN_SHIFT)
#define PG_CACHE_STEPS 4 /* size classes per power of two */
#define PG_CACHE_CLASSES ((64 - PG_CACHE_MIN_SHIFT) * PG_CACHE_STEPS)
#define PG_CACHE_DEFAULT_MAX ((int64_t)1 << 30)
#define PG_HUGEPAGE_MIN ((size_t)4 << 20)

/* A cached block. */
typedef struct pg_block {
    void *ptr;
    size_t bytes;                   /* its size class */
    struct pg_block *next, *prev;   /* in its class's list, most recently freed first */
    struct pg_block *newer, *older; /* over all classes, for eviction */
} pg_block;

static pthread_mutex_t pg_cache_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t pg_cache_once = PTHREAD_ONCE_INIT;
/* everything below: guarded by pg_cache_mu */
static pg_block *pg_class_list[PG_CACHE_CLASSES];
static pg_block *pg_newest, *pg_oldest;
static int64_t pg_limit = -1; /* -1: not set yet, the default applies */
static int64_t pg_cached_bytes, pg_cached_blocks, pg_hits, pg_misses, pg_retries;

/* ---- size classes ----
 * Class sizes are 2^k * (1, 1.25, 1.5, 1.75) plus a page of headroom, so that
 * a power-of-two payload with its storage header (a 64 MiB tensor asks for
 * 64 MiB and 96 bytes) fits the class of its payload. */

#define PG_CACHE_HEADROOM ((size_t)4096)

static int pg__log2(size_t n) { return 63 - __builtin_clzll((unsigned long long)n); }

/* n (>= PG_CACHE_MIN_BYTES) rounded up to its size class */
static size_t pg__class_bytes(size_t n) {
    size_t m = n - PG_CACHE_HEADROOM < PG_CACHE_MIN_BYTES ? PG_CACHE_MIN_BYTES : n - PG_CACHE_HEADROOM;
    size_t step = (size_t)1 << (pg__log2(m) - 2);
    return ((m + step - 1) & ~(step - 1)) + PG_CACHE_HEADROOM;
}

/* the index of a size class (bytes as pg__class_bytes gives it) */
static int pg__class_index(size_t bytes) {
    size_t m = bytes - PG_CACHE_HEADROOM;
    int k = pg__log2(m);
    return (k - PG_CACHE_MIN_SHIFT) * PG_CACHE_STEPS + (int)((m >> (k - 2)) & 3);
}

/* ---- the lists (caller holds pg_cache_mu) ---- */

static void pg__unlink(pg_block *b) {
    int c = pg__class_index(b->bytes);
    if (b->prev) b->prev->next = b->next;
    else pg_class_list[c] = b->next;
    if (b->next) b->next->prev = b->prev;
    if (b->newer) b->newer->older = b->older;
    else pg_newest = b->older;
    if (b->older) b->older->newer = b->newer;
    else pg_oldest = b->newer;
    pg_cached_bytes -= (int64_t)b->bytes;
    pg_cached_blocks--;
}

static void pg__push(pg_block *b) {
    int c = pg__class_index(b->bytes);
    b->prev = NULL;
    b->next = pg_class_list[c];
    if (b->next) b->next->prev = b;
    pg_class_list[c] = b;
    b->newer = NULL;
    b->older = pg_newest;
    if (pg_newest) pg_newest->newer = b;
    else pg_oldest = b;
    pg_newest = b;
    pg_cached_bytes += (int64_t)b->bytes;
    pg_cached_blocks++;
}

/* Takes the least recently freed blocks out until `keep` bytes or fewer stay
 * cached; returns them chained through next, for pg__release_blocks to free
 * once the lock is dropped. */
static pg_block *pg__evict_to(int64_t keep) {
    pg_block *out = NULL;
    while (pg_oldest && pg_cached_bytes > keep) {
        pg_block *b = pg_oldest;
        pg__unlink(b);
        b->next = out;
        out = b;
    }
    return out;
}

static void pg__release_blocks(pg_block *b) {
    while (b) {
        pg_block *next = b->next;
        PG_UNPOISON(b->ptr, b->bytes);
        free(b->ptr);
        free(b);
        b = next;
    }
}

static int64_t pg__default_limit(void) {
    int64_t limit = PG_CACHE_DEFAULT_MAX;
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && (int64_t)pages / 4 < limit / page) limit = (int64_t)pages / 4 * page;
#endif
    return limit;
}

/* the limit in force (caller holds pg_cache_mu) */
static int64_t pg__limit(void) {
    if (pg_limit < 0) pg_limit = pg__default_limit();
    return pg_limit;
}

static void pg__lock(void) { pthread_mutex_lock(&pg_cache_mu); }
static void pg__unlock(void) { pthread_mutex_unlock(&pg_cache_mu); }
/* fork holds the lock, so a child never inherits it held by a thread it does not have */
static void pg__cache_init(void) { pthread_atfork(pg__lock, pg__unlock, pg__unlock); }

static void pg__enter(void) {
    pthread_once(&pg_cache_once, pg__cache_init);
    pg__lock();
}

/* ---- the engine's side (internal.h) ---- */

void pg__advise_huge(void *p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p && bytes >= PG_HUGEPAGE_MIN) {
        uintptr_t lo = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
        uintptr_t hi = ((uintptr_t)p + bytes) & ~(uintptr_t)4095;
        if (hi > lo) madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
    }
#else
    (void)p;
    (void)bytes;
#endif
}

void *pg__buf_alloc(size_t nbytes) {
    if (nbytes < PG_CACHE_MIN_BYTES) return malloc(nbytes);
    size_t bytes = pg__class_bytes(nbytes);
    pg__enter();
    pg_block *b = pg_class_list[pg__class_index(bytes)];
    if (b) {
        pg__unlink(b);
        pg_hits++;
    } else {
        pg_misses++;
    }
    pg__unlock();
    void *p;
    if (b) {
        p = b->ptr;
        free(b);
    } else {
        p = malloc(bytes);
        if (!p) { /* the system is short: give back what the cache holds, and try once more */
            pg__enter();
            pg_block *all = pg__evict_to(0);
            if (all) pg_retries++;
            pg__unlock();
            if (all) {
                pg__release_blocks(all);
                p = malloc(bytes);
            }
        }
        if (!p) return NULL;
        /* transparent huge pages, as numpy asks: a fresh 64 MB block then takes 32 page
         * faults on first touch instead of 16384 */
        pg__advise_huge(p, bytes);
    }
    PG_UNPOISON(p, nbytes);
    PG_POISON((char *)p + nbytes, bytes - nbytes); /* past the request: as if malloc(nbytes) */
    return p;
}

void pg__buf_free(void *p, size_t nbytes) {
    if (!p) return;
    if (nbytes < PG_CACHE_MIN_BYTES) {
        free(p);
        return;
    }
    size_t bytes = pg__class_bytes(nbytes);
    pg_block *b = malloc(sizeof *b);
    if (!b) {
        PG_UNPOISON(p, bytes);
        free(p);
        return;
    }
    b->ptr = p;
    b->bytes = bytes;
    PG_POISON(p, bytes); /* in the cache: any touch is a use after free */
    pg__enter();
    int64_t limit = pg__limit();
    pg_block *evicted = NULL;
    if ((int64_t)bytes <= limit) {
        evicted = pg__evict_to(limit - (int64_t)bytes);
        pg__push(b);
        b = NULL;
    }
    pg__unlock();
    if (b) b->next = NULL; /* larger than the whole cache: straight back to the system */
    pg__release_blocks(b);
    pg__release_blocks(evicted);
}

/* ---- the public side (pygrad.h) ---- */

void pg_empty_cache(void) {
    pg__enter();
    pg_block *all = pg__evict_to(0);
    pg__unlock();
    pg__release_blocks(all);
}

pg_status pg_set_cache_limit(int64_t nbytes) {
    if (nbytes < 0)
        return pg__fail(PG_ERR_VALUE, "set_cache_limit: the limit must be a number of bytes >= 0, got %lld",
                        (long long)nbytes);
    pg__enter();
    pg_limit = nbytes;
    pg_block *evicted = pg__evict_to(nbytes);
    pg__unlock();
    pg__release_blocks(evicted);
    return PG_OK;
}

int64_t pg_get_cache_limit(void) {
    pg__enter();
    int64_t limit = pg__limit();
    pg__unlock();
    return limit;
}

void pg__cache_stats(pg_memory_stats *stats) {
    pg__enter();
    stats->cached_bytes = pg_cached_bytes;
    stats->cached_blocks = pg_cached_blocks;
    stats->cache_limit = pg__limit();
    stats->cache_hits = pg_hits;
    stats->cache_misses = pg_misses;
    stats->num_alloc_retries = pg_retries;
    pg__unlock();
}
