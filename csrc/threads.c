/* threads.c: the worker-thread pool the kernels run on (GEMM, large
 * elementwise and reduction loops), the thread-count setting, and per-thread
 * scratch buffers. Not a general task system: one job at a time, of three
 * kinds: parts that any member takes in turn (pg__parallel: the caller runs
 * the parts no worker has taken, so a worker that is asleep or whose core the
 * machine has given to other work delays nobody: measured on 2 shared cores,
 * waking a sleeping worker took 0.2 ms, 10x a 131k-element add), a fixed team
 * whose members may wait for each other (pg__parallel_team, the calling thread
 * member 0), and work pulled from the job's own counter (pg__parallel_dynamic).
 *
 * A caller that finds the pool busy (another thread's job is running) or that
 * is itself inside a job runs its work alone on its own thread: no waiting on
 * other callers, no nesting, no deadlock. Workers are created on first use,
 * never exit, spin briefly after a job (back-to-back kernels find them awake)
 * and then sleep on a condition variable. A forked child starts with an empty
 * pool. Without POSIX threads every job runs on the calling thread. */
#if !defined(_WIN32)
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#define PG_HAVE_PTHREADS 1
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#else
#define PG_HAVE_PTHREADS 0
#endif

/* ---- the host's lock around pooled work (pg_set_blocking_hooks) ---- */

static struct {
    _Atomic(pg_unlock_fn) unlock;
    _Atomic(pg_lock_fn) lock;
} pg_hooks;

void pg_set_blocking_hooks(pg_unlock_fn unlock, pg_lock_fn lock) {
    if (!unlock || !lock) unlock = NULL, lock = NULL;
    atomic_store(&pg_hooks.unlock, unlock);
    atomic_store(&pg_hooks.lock, lock);
}

/* ---- the thread-count setting ---- */

static atomic_int pg_nthreads; /* 0: not yet set, use the default */

static int pg__default_threads(void) {
    long n = 1;
#if PG_HAVE_PTHREADS
    n = sysconf(_SC_NPROCESSORS_ONLN);
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) { /* honour taskset / container limits */
        long usable = CPU_COUNT(&set);
        if (usable >= 1 && usable < n) n = usable;
    }
#endif
#endif
    if (n < 1) n = 1;
    if (n > PG_MAX_THREADS) n = PG_MAX_THREADS;
    return (int)n;
}

int pg_get_num_threads(void) {
    int n = atomic_load_explicit(&pg_nthreads, memory_order_relaxed);
    if (n == 0) {
        n = pg__default_threads();
        int expected = 0; /* a concurrent pg_set_num_threads wins */
        if (!atomic_compare_exchange_strong(&pg_nthreads, &expected, n)) n = expected;
    }
    return n;
}

pg_status pg_set_num_threads(int n) {
    if (n < 1 || n > PG_MAX_THREADS)
        return pg__fail(PG_ERR_VALUE, "set_num_threads: the number of threads must be between 1 and %d, got %d",
                        PG_MAX_THREADS, n);
    atomic_store(&pg_nthreads, n);
    return PG_OK;
}

int pg__threads_for(int64_t work, int64_t grain) {
    int n = pg_get_num_threads();
    if (n <= 1 || work < 2 * grain) return 1;
    int64_t by_work = work / grain;
    return by_work < n ? (int)by_work : n;
}

static void pg__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- the pool ---- */

#if PG_HAVE_PTHREADS

/* The job word: generation << 16 | kind << 14 | team size. Publishing all in one atomic store lets
 * a worker that is not in the team skip a job without reading fields the next job may already be
 * rewriting. */
enum { PG_JOB_SLOTS, PG_JOB_TEAM, PG_JOB_DYN };
#define PG_JOB_NTHR(w) ((int)((w) & 0x3fffu))
#define PG_JOB_KIND(w) ((int)(((w) >> 14) & 3u))
#define PG_JOB_GEN(w) ((w) >> 16)
/* The join word of a dynamic job: generation << 17 | closed << 16 | workers inside. A worker joins
 * (count + 1) only while the word is open and of its job's generation, so a worker that comes late
 * never touches a job that has ended, nor the next one. */
#define PG_JOIN_CLOSED (1ull << 16)
#define PG_JOIN_COUNT(s) ((s) & 0xffffull)
#define PG_JOIN_GEN(s) ((s) >> 17)
/* The slot word of a job of parts (pg__parallel): generation << 20 | next part << 10 | workers
 * inside. Any member takes the next part (one CAS, which also counts a worker in) while the word is
 * of its job's generation and parts are left; the caller takes parts too and, when none is left,
 * waits only for the workers inside. */
#define PG_SLOT_GENBITS 44
#define PG_SLOT_GEN(s) ((s) >> 20)
#define PG_SLOT_NEXT(s) ((int)(((s) >> 10) & 0x3ffu))
#define PG_SLOT_INSIDE(s) ((int)((s) & 0x3ffu))
#define PG_SLOT_ONE_PART (1ull << 10)

static struct {
    pthread_mutex_t busy;  /* held by the thread whose job is running */
    pthread_mutex_t lock;  /* guards sleeping on the condition variables */
    pthread_cond_t wake;   /* workers: a new job was published */
    pthread_cond_t done;   /* the caller: the last worker finished */
    int nworkers;          /* created so far; under busy */
    unsigned long long start[PG_MAX_THREADS]; /* job word a worker was created at */
    pg_job_fn fn;          /* the current job; written under busy before publishing */
    void *ctx;
    atomic_ullong job;
    atomic_int pending;    /* team workers still running the current job */
    atomic_int sleepers;   /* workers asleep (or going to sleep) on wake */
    atomic_int waiting;    /* the caller is asleep (or going to sleep) on done */
    atomic_ullong join;    /* dynamic jobs: the join word */
    atomic_ullong slots;   /* jobs of parts: the slot word */
    atomic_int bar_count;  /* team barrier */
    atomic_uint bar_gen;
} pg_pool = {
    .busy = PTHREAD_MUTEX_INITIALIZER,
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
};

static _Thread_local int pg_tls_in_job; /* this thread is running (part of) a job */
static pthread_once_t pg_pool_once = PTHREAD_ONCE_INIT;

/* fork: wait for a running job to end, so the child inherits an idle pool;
 * the child has none of the parent's workers and starts afresh. */
static void pg__atfork_prepare(void) {
    pthread_mutex_lock(&pg_pool.busy);
    pthread_mutex_lock(&pg_pool.lock);
}
static void pg__atfork_parent(void) {
    pthread_mutex_unlock(&pg_pool.lock);
    pthread_mutex_unlock(&pg_pool.busy);
}
static void pg__atfork_child(void) {
    pthread_mutex_init(&pg_pool.busy, NULL);
    pthread_mutex_init(&pg_pool.lock, NULL);
    pthread_cond_init(&pg_pool.wake, NULL);
    pthread_cond_init(&pg_pool.done, NULL);
    pg_pool.nworkers = 0;
    atomic_store(&pg_pool.pending, 0);
    atomic_store(&pg_pool.sleepers, 0);
    atomic_store(&pg_pool.waiting, 0);
}
static void pg__pool_init(void) {
    pthread_atfork(pg__atfork_prepare, pg__atfork_parent, pg__atfork_child);
}

static double pg__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* How long an idle worker keeps polling for the next job before sleeping. */
#define PG_IDLE_SPIN_SECONDS 100e-6

static unsigned long long pg__wait_job(unsigned long long seen) {
    unsigned long long w;
    double until = 0;
    for (unsigned i = 0;; i++) {
        w = atomic_load_explicit(&pg_pool.job, memory_order_acquire);
        if (PG_JOB_GEN(w) != PG_JOB_GEN(seen)) return w;
        if ((i & 255) == 0) {
            double now = pg__now();
            if (until == 0) until = now + PG_IDLE_SPIN_SECONDS;
            else if (now > until) break;
        }
        pg__cpu_relax();
    }
    pthread_mutex_lock(&pg_pool.lock);
    atomic_fetch_add(&pg_pool.sleepers, 1);
    while (PG_JOB_GEN(w = atomic_load(&pg_pool.job)) == PG_JOB_GEN(seen))
        pthread_cond_wait(&pg_pool.wake, &pg_pool.lock);
    atomic_fetch_sub(&pg_pool.sleepers, 1);
    pthread_mutex_unlock(&pg_pool.lock);
    return w;
}

/* Parts of the job of generation gen (slot word) taken by this worker, until none is left. */
static void pg__worker_parts(unsigned long long gen, int nthr) {
    gen &= (1ull << PG_SLOT_GENBITS) - 1;
    for (;;) {
        unsigned long long s = atomic_load(&pg_pool.slots);
        int part = -1;
        while (PG_SLOT_GEN(s) == gen && PG_SLOT_NEXT(s) < nthr)
            if (atomic_compare_exchange_weak(&pg_pool.slots, &s, s + PG_SLOT_ONE_PART + 1)) {
                part = PG_SLOT_NEXT(s);
                break;
            }
        if (part < 0) return;
        pg_team team = {part, nthr};
        pg_pool.fn(pg_pool.ctx, &team);
        unsigned long long after = atomic_fetch_sub(&pg_pool.slots, 1) - 1;
        if (PG_SLOT_INSIDE(after) == 0 && PG_SLOT_NEXT(after) >= nthr && atomic_load(&pg_pool.waiting)) {
            pthread_mutex_lock(&pg_pool.lock);
            pthread_cond_signal(&pg_pool.done);
            pthread_mutex_unlock(&pg_pool.lock);
        }
    }
}

static void *pg__worker(void *arg) {
    int tid = (int)(intptr_t)arg; /* 1 .. PG_MAX_THREADS-1 */
    unsigned long long seen = pg_pool.start[tid];
    pg_tls_in_job = 1; /* jobs started from a job run alone */
    for (;;) {
        seen = pg__wait_job(seen);
        int nthr = PG_JOB_NTHR(seen);
        if (tid >= nthr) continue; /* not in this team */
        if (PG_JOB_KIND(seen) == PG_JOB_SLOTS) {
            pg__worker_parts(PG_JOB_GEN(seen), nthr);
            continue;
        }
        if (PG_JOB_KIND(seen) == PG_JOB_DYN) { /* join unless the caller has closed the job */
            unsigned long long gen = PG_JOB_GEN(seen) & ((1ull << 47) - 1), j = atomic_load(&pg_pool.join);
            bool in = false;
            while (PG_JOIN_GEN(j) == gen && !(j & PG_JOIN_CLOSED))
                if (atomic_compare_exchange_weak(&pg_pool.join, &j, j + 1)) {
                    in = true;
                    break;
                }
            if (!in) continue;
            pg_team team = {tid, nthr};
            pg_pool.fn(pg_pool.ctx, &team);
            if (atomic_fetch_sub(&pg_pool.join, 1) == (gen << 17 | PG_JOIN_CLOSED | 1) &&
                atomic_load(&pg_pool.waiting)) {
                pthread_mutex_lock(&pg_pool.lock);
                pthread_cond_signal(&pg_pool.done);
                pthread_mutex_unlock(&pg_pool.lock);
            }
            continue;
        }
        pg_team team = {tid, nthr};
        pg_pool.fn(pg_pool.ctx, &team);
        if (atomic_fetch_sub(&pg_pool.pending, 1) == 1 && atomic_load(&pg_pool.waiting)) {
            pthread_mutex_lock(&pg_pool.lock);
            pthread_cond_signal(&pg_pool.done);
            pthread_mutex_unlock(&pg_pool.lock);
        }
    }
    return NULL;
}

/* Creates workers up to want-1 (under busy); returns the team size available. */
static int pg__grow(int want) {
    if (pg_pool.nworkers >= want - 1) return want;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* workers inherit a full mask: signals go to the caller's threads */
    while (pg_pool.nworkers < want - 1) {
        int tid = pg_pool.nworkers + 1;
        pg_pool.start[tid] = atomic_load(&pg_pool.job);
        pthread_t th;
        if (pthread_create(&th, NULL, pg__worker, (void *)(intptr_t)tid) != 0) break;
        pthread_detach(th);
        pg_pool.nworkers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pg_pool.nworkers + 1 < want ? pg_pool.nworkers + 1 : want;
}

static int pg__in_job(void) { return pg_tls_in_job; }

/* A job of parts run on the calling thread alone: every part, in order. */
static void pg__parts_alone(pg_job_fn fn, void *ctx, int nthr) {
    for (int part = 0; part < nthr; part++) {
        pg_team team = {part, nthr};
        fn(ctx, &team);
    }
}

/* The caller waits until cond(): spinning briefly (the workers it waits for are running), then on
 * the done condition variable. */
#define PG_WAIT_UNTIL(cond)                                                          \
    do {                                                                             \
        for (int i_ = 0; i_ < 1 << 14 && !(cond); i_++) pg__cpu_relax();             \
        if (!(cond)) {                                                               \
            pthread_mutex_lock(&pg_pool.lock);                                       \
            atomic_store(&pg_pool.waiting, 1);                                       \
            while (!(cond)) pthread_cond_wait(&pg_pool.done, &pg_pool.lock);          \
            atomic_store(&pg_pool.waiting, 0);                                       \
            pthread_mutex_unlock(&pg_pool.lock);                                     \
        }                                                                            \
    } while (0)

static void pg__parallel_held(pg_job_fn fn, void *ctx, int nthr, int kind) {
    pg_team solo = {0, 1};
    if (nthr > PG_MAX_THREADS) nthr = PG_MAX_THREADS;
    if (nthr <= 1) {
        fn(ctx, &solo);
        return;
    }
    if (pg_tls_in_job) {
        if (kind == PG_JOB_SLOTS) pg__parts_alone(fn, ctx, nthr);
        else fn(ctx, &solo);
        return;
    }
    pthread_once(&pg_pool_once, pg__pool_init);
    if (pthread_mutex_trylock(&pg_pool.busy) != 0) { /* another thread's job is running */
        if (kind == PG_JOB_SLOTS) pg__parts_alone(fn, ctx, nthr);
        else fn(ctx, &solo);
        return;
    }
    int team = pg__grow(nthr);
    if (kind != PG_JOB_SLOTS) nthr = team; /* a job of parts keeps its parts, whoever runs them */
    if (team <= 1) { /* no worker could be started */
        pthread_mutex_unlock(&pg_pool.busy);
        if (kind == PG_JOB_SLOTS) pg__parts_alone(fn, ctx, nthr);
        else fn(ctx, &solo);
        return;
    }
    pg_pool.fn = fn;
    pg_pool.ctx = ctx;
    atomic_store(&pg_pool.bar_count, 0);
    atomic_store(&pg_pool.pending, kind == PG_JOB_TEAM ? nthr - 1 : 0);
    unsigned long long w = atomic_load(&pg_pool.job), gen = PG_JOB_GEN(w) + 1;
    if (kind == PG_JOB_DYN) atomic_store(&pg_pool.join, (gen & ((1ull << 47) - 1)) << 17);
    if (kind == PG_JOB_SLOTS) atomic_store(&pg_pool.slots, (gen & ((1ull << PG_SLOT_GENBITS) - 1)) << 20);
    atomic_store(&pg_pool.job, (gen << 16) | (unsigned long long)kind << 14 | (unsigned long long)nthr);
    if (atomic_load(&pg_pool.sleepers) > 0) {
        pthread_mutex_lock(&pg_pool.lock);
        pthread_cond_broadcast(&pg_pool.wake);
        pthread_mutex_unlock(&pg_pool.lock);
    }
    pg_tls_in_job = 1;
    if (kind == PG_JOB_SLOTS) {
        /* take parts until none is left (a worker still asleep or not scheduled gets none), then
         * wait for the workers inside */
        for (;;) {
            unsigned long long s = atomic_load(&pg_pool.slots);
            while (PG_SLOT_NEXT(s) < nthr && !atomic_compare_exchange_weak(&pg_pool.slots, &s, s + PG_SLOT_ONE_PART)) {
            }
            if (PG_SLOT_NEXT(s) >= nthr) break;
            pg_team part = {PG_SLOT_NEXT(s), nthr};
            fn(ctx, &part);
        }
        pg_tls_in_job = 0;
        PG_WAIT_UNTIL(PG_SLOT_INSIDE(atomic_load(&pg_pool.slots)) == 0);
    } else if (kind == PG_JOB_DYN) {
        pg_team me = {0, nthr};
        fn(ctx, &me);
        pg_tls_in_job = 0;
        /* close the job: workers that have not joined stay out; wait for those inside */
        atomic_fetch_or(&pg_pool.join, PG_JOIN_CLOSED);
        PG_WAIT_UNTIL(PG_JOIN_COUNT(atomic_load(&pg_pool.join)) == 0);
    } else {
        pg_team me = {0, nthr};
        fn(ctx, &me);
        pg_tls_in_job = 0;
        PG_WAIT_UNTIL(atomic_load(&pg_pool.pending) == 0);
    }
    pthread_mutex_unlock(&pg_pool.busy);
}
#undef PG_WAIT_UNTIL

void pg__team_sync(const pg_team *team) {
    if (team->nthr <= 1) return;
    unsigned gen = atomic_load_explicit(&pg_pool.bar_gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&pg_pool.bar_count, 1, memory_order_acq_rel) == team->nthr - 1) {
        atomic_store_explicit(&pg_pool.bar_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&pg_pool.bar_gen, 1, memory_order_release);
        return;
    }
    for (unsigned i = 1; atomic_load_explicit(&pg_pool.bar_gen, memory_order_acquire) == gen; i++) {
        if (i & 1023) pg__cpu_relax();
        else sched_yield(); /* more threads than cores: let the late one run */
    }
}

#else /* no POSIX threads: every job runs on the calling thread */

static int pg__in_job(void) { return 0; }

enum { PG_JOB_SLOTS, PG_JOB_TEAM, PG_JOB_DYN };

static void pg__parallel_held(pg_job_fn fn, void *ctx, int nthr, int kind) {
    pg_team solo = {0, 1};
    if (kind != PG_JOB_SLOTS || nthr <= 1) {
        fn(ctx, &solo);
        return;
    }
    if (nthr > PG_MAX_THREADS) nthr = PG_MAX_THREADS;
    for (int part = 0; part < nthr; part++) {
        pg_team team = {part, nthr};
        fn(ctx, &team);
    }
}

void pg__team_sync(const pg_team *team) { (void)team; }

#endif

/* Whether this thread has let the host's lock go (pg__unlock_host): never twice. */
static _Thread_local int pg_tls_released;

pg_unlocked pg__unlock_host(int64_t work) {
    pg_unlocked u = {NULL, NULL};
    if (work < PG_UNLOCK_MIN || pg_tls_released || pg__in_job()) return u;
    pg_unlock_fn unlock = atomic_load_explicit(&pg_hooks.unlock, memory_order_acquire);
    pg_lock_fn lock = atomic_load_explicit(&pg_hooks.lock, memory_order_acquire);
    if (!unlock || !lock) return u;
    u.token = unlock();
    u.lock = lock;
    pg_tls_released = 1;
    return u;
}

void pg__relock_host(pg_unlocked u) {
    if (!u.lock) return;
    pg_tls_released = 0;
    u.lock(u.token);
}

/* Jobs are the engine's long work: the host's lock is let go around the
 * outermost one on a calling thread (never on a worker, never twice). */

/* A job of nthr parts: fn runs once per part (team->tid is the part, team->nthr the number of
 * parts), each part on whichever member takes it first. The caller takes parts too, and waits only
 * for the workers that took one: a worker asleep, or one the machine has not scheduled (its core
 * shared with other work), does not hold the job up; the caller then runs its parts itself, so the
 * job never takes much longer than on one thread. fn must not call pg__team_sync. */
void pg__parallel(pg_job_fn fn, void *ctx, int nthr) {
    pg_unlocked u = pg__unlock_host(INT64_MAX);
    pg__parallel_held(fn, ctx, nthr, PG_JOB_SLOTS);
    pg__relock_host(u);
}

/* A job whose nthr members all run at once (member tid on its own thread), for work whose members
 * wait for each other (pg__team_sync); run alone (from inside a job, or while another thread's job
 * holds the pool) it is one member of a team of one. */
void pg__parallel_team(pg_job_fn fn, void *ctx, int nthr) {
    pg_unlocked u = pg__unlock_host(INT64_MAX);
    pg__parallel_held(fn, ctx, nthr, PG_JOB_TEAM);
    pg__relock_host(u);
}

/* A job whose workers join only if they come before the caller has finished its own part: on a
 * machine shared with other work, a worker the system has not scheduled delays nobody (the caller
 * does not wait for it to wake). fn must take its work from a shared counter (any member may do any
 * part, a member may do none) and must not call pg__team_sync. */
void pg__parallel_dynamic(pg_job_fn fn, void *ctx, int nthr) {
    pg_unlocked u = pg__unlock_host(INT64_MAX);
    pg__parallel_held(fn, ctx, nthr, PG_JOB_DYN);
    pg__relock_host(u);
}

/* ---- waiting without the host's lock ----
 * A thread that blocks on a lock of the engine lets the host's lock (the GIL)
 * go first: the holder may need it to finish (a pooled kernel takes it back,
 * a user callback runs Python). */

typedef struct pg_host_token {
    pg_lock_fn lock;
    void *token;
} pg_host_token;

static pg_host_token pg__host_release(void) {
    pg_host_token t = {NULL, NULL};
    pg_unlock_fn unlock = atomic_load_explicit(&pg_hooks.unlock, memory_order_acquire);
    pg_lock_fn lock = atomic_load_explicit(&pg_hooks.lock, memory_order_acquire);
    if (!unlock || !lock || pg_tls_released || pg__in_job()) return t;
    t.lock = lock;
    t.token = unlock();
    pg_tls_released = 1;
    return t;
}

static void pg__host_reacquire(pg_host_token t) {
    if (!t.lock) return;
    pg_tls_released = 0;
    t.lock(t.token);
}

#if PG_HAVE_PTHREADS
void pg__mutex_lock(pthread_mutex_t *m) {
    if (pthread_mutex_trylock(m) == 0) return;
    pg_host_token t = pg__host_release();
    pthread_mutex_lock(m);
    pg__host_reacquire(t);
}

void pg__cond_wait(pthread_cond_t *c, pthread_mutex_t *m) {
    pg_host_token t = pg__host_release();
    pthread_cond_wait(c, m);
    if (t.lock) { /* take the host's lock back without holding m: its holder may be waiting for m */
        pthread_mutex_unlock(m);
        pg__host_reacquire(t);
        pg__mutex_lock(m);
    }
}
#endif

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
