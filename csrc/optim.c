/* optim.c: fused optimizer updates (SGD with momentum and Nesterov, AdaGrad,
 * RMSProp, Adam and AdamW), one pass over a parameter's buffer each, with
 * PyTorch's update rules. They change param and its state in place, bump
 * param's version, and are never recorded on the tape: they are not ops.
 *
 * Every kernel reads float32 or float64 and computes in double precision
 * (a float32 parameter or state value is rounded once, when stored). Each
 * formula is evaluated in the order of its comment, which is the order the
 * reference (pygrad/reference/optim.py) and PyTorch use. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ---- argument checks ---- */

static pg_status pg__check_param(const char *op, const pg_tensor *param, const pg_tensor *grad) {
    if (pg__check_float(op, param)) return pg_last_status();
    if (!grad) return pg__fail(PG_ERR_VALUE, "%s: got a NULL gradient", op);
    if (grad->dtype != param->dtype)
        return pg__fail(PG_ERR_TYPE, "%s: the gradient is %s but the parameter is %s", op,
                        pg__dtype_name(grad->dtype), pg__dtype_name(param->dtype));
    if (grad->ndim != param->ndim || memcmp(grad->shape, param->shape, sizeof(int64_t) * (size_t)param->ndim)) {
        char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_SHAPE, "%s: the gradient has shape %s but the parameter has shape %s", op,
                        pg__shape_str(grad->ndim, grad->shape, b1, sizeof b1),
                        pg__shape_str(param->ndim, param->shape, b2, sizeof b2));
    }
    return PG_OK;
}

/* A state buffer the update needs: present, of param's dtype and shape. */
static pg_status pg__check_state(const char *op, const char *what, const pg_tensor *param, const pg_tensor *s) {
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (!s) return pg__fail(PG_ERR_VALUE, "%s: the %s buffer is NULL but the settings need it", op, what);
    if (s->dtype != param->dtype)
        return pg__fail(PG_ERR_TYPE, "%s: the %s buffer is %s but the parameter is %s", op, what,
                        pg__dtype_name(s->dtype), pg__dtype_name(param->dtype));
    if (s->ndim != param->ndim || memcmp(s->shape, param->shape, sizeof(int64_t) * (size_t)param->ndim))
        return pg__fail(PG_ERR_SHAPE, "%s: the %s buffer has shape %s but the parameter has shape %s", op, what,
                        pg__shape_str(s->ndim, s->shape, b1, sizeof b1),
                        pg__shape_str(param->ndim, param->shape, b2, sizeof b2));
    return PG_OK;
}

/* v >= lo, and not NaN */
static pg_status pg__check_min(const char *op, const char *what, double v, double lo) {
    if (!(v >= lo)) return pg__fail(PG_ERR_VALUE, "%s: invalid %s %g (must be >= %g)", op, what, v, lo);
    return PG_OK;
}

static pg_status pg__check_step(const char *op, int64_t step) {
    if (step < 1) return pg__fail(PG_ERR_VALUE, "%s: invalid step %lld (steps count from 1)", op, (long long)step);
    return PG_OK;
}

static void pg__bump_version(pg_tensor *t) { atomic_fetch_add(&t->storage->version, 1); }

/* element i of a float32 or float64 buffer, as double, and back */
#define PG_LD(t, i) ((t)->dtype == PG_DTYPE_F32 ? (double)((const float *)(t)->data)[i] : ((const double *)(t)->data)[i])
#define PG_ST(t, i, v)                                                  \
    do {                                                                \
        if ((t)->dtype == PG_DTYPE_F32) ((float *)(t)->data)[i] = (float)(v); \
        else ((double *)(t)->data)[i] = (v);                            \
    } while (0)
/* v as the buffer t would store it (rounded to float for float32) */
#define PG_ROUND(t, v) ((t)->dtype == PG_DTYPE_F32 ? (double)(float)(v) : (v))

/* start + w (end - start), in PyTorch's two-sided form (exact at w = 0 and w = 1) */
static double pg__lerp(double start, double end, double w) {
    return w < 0.5 ? start + w * (end - start) : end - (end - start) * (1.0 - w);
}

/* ======================================================================
 * SGD
 *   g = grad + wd p
 *   b = g at step 1, else mu b + (1 - dampening) g      (momentum != 0)
 *   d = g + mu b (nesterov) or b                       (momentum != 0), else g
 *   p = p - lr d
 * (seed 001: "Parameter = parameter - learning rate * gradient"; momentum
 * keeps an exponentially decaying sum of past gradients; Nesterov applies
 * the gradient step after the momentum step as a correction.)
 * ====================================================================== */

typedef struct pg_sgd_job {
    void *p;        /* [n] parameter */
    const void *g;  /* [n] gradient */
    void *b;        /* [n] momentum buffer, or NULL without momentum */
    int64_t step;
    double lr, momentum, dampening, weight_decay;
    int nesterov;
} pg_sgd_job;

/* The update of elements [lo, hi), in the order of the formula above, in
 * double precision; one pass over p, g and b. The float/double conversions
 * and double arithmetic bound the loop: PG_CLONES (kernels.h) builds it also
 * for wider vectors, with the same IEEE results. */
#define PG_SGD_RANGE(T, SUF)                                                                        \
    PG_CLONES static void sgd_range_##SUF(void *ctx, int64_t lo, int64_t hi) {                      \
        const pg_sgd_job *j = ctx;                                                                  \
        T *P = j->p, *B = j->b;                                                                     \
        const T *G = j->g;                                                                          \
        const double lr = j->lr, mu = j->momentum, keep = 1.0 - j->dampening, wd = j->weight_decay; \
        if (B && j->step > 1 && !j->nesterov && wd == 0) { /* the usual case, without branches */  \
            PG_IVDEP for (int64_t i = lo; i < hi; i++) {                                            \
                double b = (double)(T)(mu * (double)B[i] + keep * (double)G[i]);                    \
                B[i] = (T)b;                                                                        \
                P[i] = (T)((double)P[i] - lr * b);                                                  \
            }                                                                                       \
            return;                                                                                 \
        }                                                                                           \
        for (int64_t i = lo; i < hi; i++) {                                                         \
            double p = P[i], g = G[i];                                                              \
            if (wd != 0) g = g + wd * p;                                                            \
            if (B) {                                                                                \
                double b = (double)(T)(j->step == 1 ? g : mu * (double)B[i] + keep * g);            \
                B[i] = (T)b;                                                                        \
                g = j->nesterov ? g + mu * b : b;                                                   \
            }                                                                                       \
            P[i] = (T)(p - lr * g);                                                                 \
        }                                                                                           \
    }
PG_SGD_RANGE(float, f32)
PG_SGD_RANGE(double, f64)

pg_status pg_sgd_step(pg_tensor *param, pg_tensor *grad, pg_tensor *momentum_buf, int64_t step, double lr,
                      double momentum, double dampening, double weight_decay, int nesterov) {
    const char *op = "sgd_step";
    pg_status st;
    if ((st = pg__check_param(op, param, grad)) || (st = pg__check_step(op, step)) ||
        (st = pg__check_min(op, "learning rate", lr, 0)) || (st = pg__check_min(op, "momentum", momentum, 0)) ||
        (st = pg__check_min(op, "weight_decay", weight_decay, 0)))
        return st;
    if (!isfinite(dampening)) return pg__fail(PG_ERR_VALUE, "%s: invalid dampening %g", op, dampening);
    if (nesterov && (momentum <= 0 || dampening != 0))
        return pg__fail(PG_ERR_VALUE, "%s: Nesterov momentum requires a momentum > 0 and zero dampening", op);
    bool mom = momentum != 0;
    if (mom && (st = pg__check_state(op, "momentum", param, momentum_buf))) return st;
    if (pg_tls.recorder) { /* pygrad.compile */
        pg_tensor *t[PG_REC_MAX_T] = {param, grad, momentum_buf};
        double v[PG_REC_MAX_S] = {(double)step, lr, momentum, dampening, weight_decay, nesterov};
        pg_tls.recorder->ops->optim(pg_tls.recorder, PG_REC_SGD, t, v);
    }
    pg_sgd_job j = {param->data, grad->data, mom ? momentum_buf->data : NULL, step, lr, momentum, dampening,
                    weight_decay, nesterov};
    pg__parallel_range(param->numel, 64, PG_NDITER_GRAIN, param->dtype == PG_DTYPE_F64 ? sgd_range_f64 : sgd_range_f32,
                       &j);
    pg__bump_version(param);
    return PG_OK;
}

/* ======================================================================
 * AdaGrad
 *   g = grad + wd p
 *   clr = lr / (1 + (step - 1) lr_decay)
 *   s = s + g^2
 *   p = p - clr (g / (sqrt(s) + eps))
 * (seed 001: "learning rate x gradient / sqrt(accumulated gradient norms)")
 * ====================================================================== */

pg_status pg_adagrad_step(pg_tensor *param, pg_tensor *grad, pg_tensor *state_sum, int64_t step, double lr,
                          double lr_decay, double weight_decay, double eps) {
    const char *op = "adagrad_step";
    pg_status st;
    if ((st = pg__check_param(op, param, grad)) || (st = pg__check_step(op, step)) ||
        (st = pg__check_min(op, "learning rate", lr, 0)) || (st = pg__check_min(op, "lr_decay", lr_decay, 0)) ||
        (st = pg__check_min(op, "weight_decay", weight_decay, 0)) || (st = pg__check_min(op, "eps", eps, 0)) ||
        (st = pg__check_state(op, "sum", param, state_sum)))
        return st;
    if (pg_tls.recorder) { /* pygrad.compile */
        pg_tensor *t[PG_REC_MAX_T] = {param, grad, state_sum};
        double v[PG_REC_MAX_S] = {(double)step, lr, lr_decay, weight_decay, eps};
        pg_tls.recorder->ops->optim(pg_tls.recorder, PG_REC_ADAGRAD, t, v);
    }
    double clr = lr / (1.0 + (double)(step - 1) * lr_decay);
    pg_unlocked unlocked = pg__unlock_host(param->numel); /* long: let the host's lock go */
    for (int64_t i = 0; i < param->numel; i++) {
        double p = PG_LD(param, i);
        double g = PG_LD(grad, i);
        if (weight_decay != 0) g = g + weight_decay * p;
        double sum = PG_ROUND(state_sum, PG_LD(state_sum, i) + g * g);
        PG_ST(state_sum, i, sum);
        double std = sqrt(sum) + eps;
        PG_ST(param, i, p - clr * (g / std));
    }
    pg__relock_host(unlocked);
    pg__bump_version(param);
    return PG_OK;
}

/* ======================================================================
 * RMSProp
 *   g = grad + wd p
 *   v = alpha v + (1 - alpha) g^2
 *   centered: a = lerp(a, g, 1 - alpha);  den = sqrt(v - a^2) + eps
 *   else:                                 den = sqrt(v) + eps
 *   momentum > 0: b = mu b + g / den;  p = p - lr b
 *   else:                              p = p - lr (g / den)
 * ====================================================================== */

pg_status pg_rmsprop_step(pg_tensor *param, pg_tensor *grad, pg_tensor *square_avg, pg_tensor *momentum_buf,
                          pg_tensor *grad_avg, double lr, double alpha, double eps, double weight_decay,
                          double momentum, int centered) {
    const char *op = "rmsprop_step";
    pg_status st;
    if ((st = pg__check_param(op, param, grad)) || (st = pg__check_min(op, "learning rate", lr, 0)) ||
        (st = pg__check_min(op, "alpha", alpha, 0)) || (st = pg__check_min(op, "eps", eps, 0)) ||
        (st = pg__check_min(op, "weight_decay", weight_decay, 0)) ||
        (st = pg__check_min(op, "momentum", momentum, 0)) ||
        (st = pg__check_state(op, "square_avg", param, square_avg)) ||
        (momentum > 0 && (st = pg__check_state(op, "momentum", param, momentum_buf))) ||
        (centered && (st = pg__check_state(op, "grad_avg", param, grad_avg))))
        return st;
    if (pg_tls.recorder) { /* pygrad.compile */
        pg_tensor *t[PG_REC_MAX_T] = {param, grad, square_avg, momentum_buf, grad_avg};
        double v[PG_REC_MAX_S] = {lr, alpha, eps, weight_decay, momentum, centered};
        pg_tls.recorder->ops->optim(pg_tls.recorder, PG_REC_RMSPROP, t, v);
    }
    pg_unlocked unlocked = pg__unlock_host(param->numel); /* long: let the host's lock go */
    for (int64_t i = 0; i < param->numel; i++) {
        double p = PG_LD(param, i);
        double g = PG_LD(grad, i);
        if (weight_decay != 0) g = g + weight_decay * p;
        double v = PG_ROUND(square_avg, alpha * PG_LD(square_avg, i) + (1.0 - alpha) * (g * g)), den;
        PG_ST(square_avg, i, v);
        if (centered) {
            double a = PG_ROUND(grad_avg, pg__lerp(PG_LD(grad_avg, i), g, 1.0 - alpha));
            PG_ST(grad_avg, i, a);
            den = sqrt(v - a * a) + eps;
        } else {
            den = sqrt(v) + eps;
        }
        if (momentum > 0) {
            double b = PG_ROUND(momentum_buf, momentum * PG_LD(momentum_buf, i) + g / den);
            PG_ST(momentum_buf, i, b);
            PG_ST(param, i, p - lr * b);
        } else {
            PG_ST(param, i, p - lr * (g / den));
        }
    }
    pg__relock_host(unlocked);
    pg__bump_version(param);
    return PG_OK;
}

/* ======================================================================
 * Adam / AdamW
 *   AdamW (decoupled): p = p (1 - lr wd);   Adam: g = grad + wd p
 *   m = lerp(m, g, 1 - beta1)
 *   v = beta2 v + (1 - beta2) g^2
 *   amsgrad: vmax = max(vmax, v), and vmax replaces v below
 *   den = sqrt(v) / sqrt(1 - beta2^step) + eps
 *   p = p - (lr / (1 - beta1^step)) (m / den)
 * ====================================================================== */

pg_status pg_adam_step(pg_tensor *param, pg_tensor *grad, pg_tensor *exp_avg, pg_tensor *exp_avg_sq,
                       pg_tensor *max_exp_avg_sq, int64_t step, double lr, double beta1, double beta2, double eps,
                       double weight_decay, int decoupled_weight_decay, int amsgrad) {
    const char *op = decoupled_weight_decay ? "adamw_step" : "adam_step";
    pg_status st;
    if ((st = pg__check_param(op, param, grad)) || (st = pg__check_step(op, step)) ||
        (st = pg__check_min(op, "learning rate", lr, 0)) || (st = pg__check_min(op, "eps", eps, 0)) ||
        (st = pg__check_min(op, "weight_decay", weight_decay, 0)) ||
        (st = pg__check_state(op, "exp_avg", param, exp_avg)) ||
        (st = pg__check_state(op, "exp_avg_sq", param, exp_avg_sq)) ||
        (amsgrad && (st = pg__check_state(op, "max_exp_avg_sq", param, max_exp_avg_sq))))
        return st;
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
        return pg__fail(PG_ERR_VALUE, "%s: invalid betas (%g, %g) (each must be in [0, 1))", op, beta1, beta2);
    if (pg_tls.recorder) { /* pygrad.compile */
        pg_tensor *t[PG_REC_MAX_T] = {param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq};
        double v[PG_REC_MAX_S] = {(double)step, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, amsgrad};
        pg_tls.recorder->ops->optim(pg_tls.recorder, PG_REC_ADAM, t, v);
    }
    double bc1 = 1.0 - pow(beta1, (double)step);
    double bc2_sqrt = sqrt(1.0 - pow(beta2, (double)step));
    double step_size = lr / bc1;
    double decay = 1.0 - lr * weight_decay;
    pg_unlocked unlocked = pg__unlock_host(param->numel); /* long: let the host's lock go */
    for (int64_t i = 0; i < param->numel; i++) {
        double p = PG_LD(param, i);
        double g = PG_LD(grad, i);
        if (weight_decay != 0) {
            if (decoupled_weight_decay) p = PG_ROUND(param, p * decay);
            else g = g + weight_decay * p;
        }
        double m = PG_ROUND(exp_avg, pg__lerp(PG_LD(exp_avg, i), g, 1.0 - beta1));
        double v = PG_ROUND(exp_avg_sq, beta2 * PG_LD(exp_avg_sq, i) + (1.0 - beta2) * (g * g));
        PG_ST(exp_avg, i, m);
        PG_ST(exp_avg_sq, i, v);
        if (amsgrad) {
            double vmax = PG_LD(max_exp_avg_sq, i);
            if (v > vmax || isnan(v)) vmax = v;
            PG_ST(max_exp_avg_sq, i, vmax);
            v = vmax;
        }
        double den = sqrt(v) / bc2_sqrt + eps;
        PG_ST(param, i, p - step_size * (m / den));
    }
    pg__relock_host(unlocked);
    pg__bump_version(param);
    return PG_OK;
}
