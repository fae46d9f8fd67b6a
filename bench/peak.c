/* peak.c: measures this machine's fused multiply-add peak, the ceiling the
 * GEMM benchmark reports fractions of. Not part of pygrad.
 *
 * Each thread runs chains of independent FMAs on registers (enough chains to
 * cover the FMA latency on every pipe), so the loop is bound by FMA throughput
 * only. The widest vector ISA the CPU runs is chosen at run time (AVX-512F,
 * else AVX2+FMA, else a scalar C loop) through per-function target attributes:
 * it is compiled with the system cc and no -march flags.
 *
 *   cc -O2 -o peak bench/peak.c -lpthread
 *   ./peak [threads] [seconds] [exact]
 *
 * Prints one line per dtype and team size, e.g.
 *   isa=avx512 dtype=float32 threads=2 gflops=527.1
 * Team sizes 1 .. threads (default: online cores); seconds per measurement
 * (default 0.2), best of three. With a third argument "exact": the given team
 * size only (for probes taken between other measurements). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define PEAK_X86 1
#include <immintrin.h>
#else
#define PEAK_X86 0
#endif

#define CHAINS 12    /* independent accumulators (a0..a11): > latency (4) x pipes (2) */
#define INNER 1000   /* FMA rounds between clock reads */

typedef double (*peak_fn)(long rounds); /* returns a checksum, so nothing is optimised away */

#if PEAK_X86
/* twelve named accumulators: arrays of vectors can end up in memory at -O2 */
#define PEAK_BODY(V, SET1, FMA, ADD, STORE, T, W)                                             \
    V x = SET1((T)0.999999), y = SET1((T)1e-7);                                               \
    V a0 = SET1((T)0), a1 = SET1((T)1), a2 = SET1((T)2), a3 = SET1((T)3), a4 = SET1((T)4);    \
    V a5 = SET1((T)5), a6 = SET1((T)6), a7 = SET1((T)7), a8 = SET1((T)8), a9 = SET1((T)9);    \
    V a10 = SET1((T)10), a11 = SET1((T)11);                                                   \
    for (long r = 0; r < rounds; r++) {                                                       \
        a0 = FMA(a0, x, y), a1 = FMA(a1, x, y), a2 = FMA(a2, x, y), a3 = FMA(a3, x, y);       \
        a4 = FMA(a4, x, y), a5 = FMA(a5, x, y), a6 = FMA(a6, x, y), a7 = FMA(a7, x, y);       \
        a8 = FMA(a8, x, y), a9 = FMA(a9, x, y), a10 = FMA(a10, x, y), a11 = FMA(a11, x, y);   \
    }                                                                                         \
    a0 = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));                   \
    a0 = ADD(a0, ADD(ADD(a8, a9), ADD(a10, a11)));                                            \
    T out[W];                                                                                 \
    STORE(out, a0);                                                                           \
    return (double)out[0];

__attribute__((target("avx512f"))) static double fma_avx512_f32(long rounds) {
    PEAK_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps, float, 16)
}
__attribute__((target("avx512f"))) static double fma_avx512_f64(long rounds) {
    PEAK_BODY(__m512d, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd, _mm512_storeu_pd, double, 8)
}
__attribute__((target("avx2,fma"))) static double fma_avx2_f32(long rounds) {
    PEAK_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps, float, 8)
}
__attribute__((target("avx2,fma"))) static double fma_avx2_f64(long rounds) {
    PEAK_BODY(__m256d, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd, _mm256_storeu_pd, double, 4)
}
#endif

static double mul_add_c_f32(long rounds) {
    float acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = (float)c;
    for (long r = 0; r < rounds; r++)
        for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * 0.999999f + 1e-7f;
    double s = 0;
    for (int c = 0; c < CHAINS; c++) s += acc[c];
    return s;
}
static double mul_add_c_f64(long rounds) {
    double acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = c;
    for (long r = 0; r < rounds; r++)
        for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * 0.999999 + 1e-7;
    double s = 0;
    for (int c = 0; c < CHAINS; c++) s += acc[c];
    return s;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct job {
    peak_fn fn;
    double seconds;
    pthread_barrier_t *start;
    long rounds;     /* out: FMA rounds done */
    double elapsed;  /* out */
    double checksum; /* out */
} job;

static void *run(void *arg) {
    job *j = arg;
    pthread_barrier_wait(j->start);
    double t0 = now(), t = t0;
    long rounds = 0;
    double sum = 0;
    while (t - t0 < j->seconds) {
        sum += j->fn(INNER * 10L);
        rounds += INNER * 10L;
        t = now();
    }
    j->rounds = rounds;
    j->elapsed = t - t0;
    j->checksum = sum;
    return NULL;
}

/* GFLOP/s of a team of n threads: 2 flops per lane per FMA */
static double measure(peak_fn fn, int lanes, int n, double seconds) {
    pthread_t th[256];
    job jobs[256];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        jobs[i] = (job){fn, seconds, &start, 0, 0, 0};
        if (i > 0 && pthread_create(&th[i], NULL, run, &jobs[i]) != 0) {
            fprintf(stderr, "peak: cannot start thread %d\n", i);
            exit(1);
        }
    }
    run(&jobs[0]);
    for (int i = 1; i < n; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    double flops = 0, wall = 0;
    for (int i = 0; i < n; i++) {
        flops += 2.0 * lanes * CHAINS * (double)jobs[i].rounds;
        if (jobs[i].elapsed > wall) wall = jobs[i].elapsed;
    }
    volatile double sink = jobs[0].checksum;
    (void)sink;
    return flops / wall / 1e9;
}

int main(int argc, char **argv) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int maxt = argc > 1 ? atoi(argv[1]) : (int)(cores > 0 ? cores : 1);
    double seconds = argc > 2 ? atof(argv[2]) : 0.2;
    int exact = argc > 3 && strcmp(argv[3], "exact") == 0;
    if (maxt < 1 || maxt > 256 || seconds <= 0 || (argc > 3 && !exact)) {
        fprintf(stderr, "usage: peak [threads 1..256] [seconds > 0] [exact]\n");
        return 2;
    }
    const char *isa = "c";
    peak_fn f32 = mul_add_c_f32, f64 = mul_add_c_f64;
    int l32 = 1, l64 = 1;
#if PEAK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        isa = "avx512", f32 = fma_avx512_f32, f64 = fma_avx512_f64, l32 = 16, l64 = 8;
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        isa = "avx2", f32 = fma_avx2_f32, f64 = fma_avx2_f64, l32 = 8, l64 = 4;
    }
#endif
    for (int n = exact ? maxt : 1; n <= maxt; n++) {
        for (int d = 0; d < 2; d++) {
            double best = 0;
            for (int rep = 0; rep < 3; rep++) {
                double g = measure(d ? f64 : f32, d ? l64 : l32, n, seconds);
                if (g > best) best = g;
            }
            printf("isa=%s dtype=%s threads=%d gflops=%.1f\n", isa, d ? "float64" : "float32", n, best);
        }
    }
#if PEAK_X86
    /* the AVX2 figure too when AVX-512 is the main one (the ISA of an AVX2-only build) */
    if (!exact && strcmp(isa, "avx512") == 0 && __builtin_cpu_supports("fma")) {
        double best = 0;
        for (int rep = 0; rep < 3; rep++) {
            double g = measure(fma_avx2_f32, 8, maxt, seconds);
            if (g > best) best = g;
        }
        printf("isa=avx2 dtype=float32 threads=%d gflops=%.1f\n", maxt, best);
    }
#endif
    return 0;
}
