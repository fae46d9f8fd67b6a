/* percall.c: the per-op cost of the C engine alone, without Python.
 *
 * Runs bench/overhead.py's chain in pure C: y = y*1.0001; y = y + 0.001;
 * y = relu(y), cycled for N ops on a 4-element float32 leaf that requires
 * grad, releasing each intermediate as soon as the next op has consumed it
 * (as Python's refcounting does), then sum() and pg_backward. Prints ns per
 * op for the forward chain (ops + releases), for the backward sweep
 * (pg_backward / N) and for the teardown (releasing the sum, which frees the
 * graph), each the best of R runs, and checks the gradient.
 *
 * Build the engine as a shared library, as the Python extension is (thread
 * locals and calls between the engine's files cost more there than in a
 * static build), and link the harness against it:
 *
 *   F="-std=c11 -O3 -Wall -Wextra -ffp-contract=off -fno-strict-aliasing -fno-math-errno"
 *   cc $F -fPIC -shared -Icsrc -o /tmp/libpgbench.so csrc/[a-z]*.c -lm -lpthread
 *   cc $F -Icsrc -o /tmp/pg_percall bench/percall.c /tmp/libpgbench.so -lm -Wl,-rpath,/tmp
 *   /tmp/pg_percall [ops=1000] [repeats=200]
 *
 * Instruction counts of one phase (divide by ops x repeats):
 *   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=forward_chain \
 *      /tmp/pg_percall 1000 5        (or --toggle-collect=backward_sweep)
 * Not a test: it asserts nothing about time. */
#define _POSIX_C_SOURCE 200809L
#include "pygrad.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int fail(const char *what) {
    fprintf(stderr, "percall: %s failed: %s\n", what, pg_last_error());
    return 1;
}

/* The timed parts, kept out of line so that callgrind can count each alone
 * (--collect-atstart=no --toggle-collect=forward_chain, or backward_sweep). */
__attribute__((noinline)) static pg_tensor *forward_chain(pg_tensor *x, int n_ops) {
    pg_tensor *y = x;
    pg_tensor_retain(y);
    for (int k = 0; k < n_ops; k++) {
        pg_tensor *z;
        switch (k % 3) {
        case 0: z = pg_mul_scalar(y, 1.0001); break;
        case 1: z = pg_add_scalar(y, 0.001); break;
        default: z = pg_relu(y); break;
        }
        pg_tensor_release(y);
        if (!z) return NULL;
        y = z;
    }
    return y;
}

__attribute__((noinline)) static pg_status backward_sweep(pg_tensor *s) { return pg_backward(s, NULL, 0); }

/* One run: returns 0, and the forward and backward times in ns. */
static int run(int n_ops, double *fwd, double *bwd, double *teardown, double *grad0) {
    int64_t shape[1] = {4};
    pg_tensor *x = pg_tensor_empty(PG_DTYPE_F32, 1, shape);
    if (!x) return fail("empty");
    float *xd = pg_tensor_data(x);
    for (int i = 0; i < 4; i++) xd[i] = 0.5f * (float)(i + 1);
    pg_tensor_set_requires_grad(x, 1);

    double t0 = now_ns();
    pg_tensor *y = forward_chain(x, n_ops);
    double t1 = now_ns();
    if (!y) return fail("op");
    pg_tensor *s = pg_sum(y, PG_AXES_ALL, 0);
    if (!s) return fail("sum");
    pg_tensor_release(y);
    double t2 = now_ns();
    if (backward_sweep(s) != PG_OK) return fail("backward");
    double t3 = now_ns();
    pg_tensor_release(s); /* frees the graph */
    double t4 = now_ns();
    pg_tensor *g = pg_tensor_grad(x);
    if (!g) return fail("grad");
    *grad0 = ((float *)pg_tensor_data(g))[0];
    pg_tensor_release(g);
    pg_tensor_release(x);
    *fwd = t1 - t0;
    *bwd = t3 - t2;
    *teardown = t4 - t3;
    return 0;
}

int main(int argc, char **argv) {
    int n_ops = argc > 1 ? atoi(argv[1]) : 1000;
    int repeats = argc > 2 ? atoi(argv[2]) : 200;
    if (n_ops < 1 || repeats < 1) {
        fprintf(stderr, "usage: percall [ops >= 1] [repeats >= 1]\n");
        return 2;
    }
    double best_f = INFINITY, best_b = INFINITY, best_t = INFINITY, grad0 = 0;
    for (int r = 0; r < repeats; r++) {
        double f, b, t;
        if (run(n_ops, &f, &b, &t, &grad0)) return 1;
        if (f < best_f) best_f = f;
        if (b < best_b) best_b = b;
        if (t < best_t) best_t = t;
    }
    int n_mul = n_ops / 3 + (n_ops % 3 ? 1 : 0);
    double want = pow(1.0001, n_mul);
    int ok = fabs(grad0 - want) <= 1e-6 + n_ops * 1.2e-7 * want;
    printf("ops %d, best of %d: forward %.1f ns/op, backward %.1f ns/op, teardown %.1f ns/op; "
           "grad[0] %.6f (want %.6f)%s\n",
           n_ops, repeats, best_f / n_ops, best_b / n_ops, best_t / n_ops, grad0, want, ok ? "" : "  WRONG");
    printf("live after: tensors %lld, nodes %lld, bytes %lld\n", (long long)pg_live_tensors(),
           (long long)pg_live_nodes(), (long long)pg_live_bytes());
    return ok && pg_live_tensors() == 0 && pg_live_nodes() == 0 ? 0 : 1;
}
