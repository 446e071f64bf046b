/*
 * One bar of the enrichment graph in one call: TA-Lib streaming handles, lags and
 * element-wise operations.
 *
 * The incremental enrichment path (jonbu_core/enrich/stepper.py) holds one TA-Lib
 * streaming handle (TA_<FUNC>_Open ... TA_<FUNC>_Update / _Peek, TA-Lib >= 0.6 C
 * API) per TA-Lib call of its graph. Calling ~100 of them from Python costs
 * ~0.4 us each (method call, GIL release, mutex), and the ~50 element-wise
 * operations between them ~0.1 us each; this loop runs the same graph in C. The
 * TA-Lib numbers are TA-Lib's own, bit for bit; each operation below is the
 * scalar expression of jonbu_core/enrich/ops.py written with the same IEEE
 * operations in the same order (built with -ffp-contract=off: no fused
 * multiply-add), and tests/core/enrich/test_native.py checks every one of them
 * against the Python expression.
 *
 * Plain C with no Python API: jonbu_core/enrich/native.py loads it with ctypes
 * and resolves the TA-Lib symbols through talib's extension module.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef int rc_t; /* TA_RetCode */
typedef double D;
typedef void *P;

#define MAX_IN 8  /* inputs per instruction */
#define MAX_OUT 3 /* outputs per instruction */
#define N_CONST 3 /* constants per operation */

/* Instruction kinds; operations start at OP_BASE in the order of OP_NAMES in native.py. */
enum { K_TA = 0, K_LAG = 1, K_ANCHOR = 2, OP_BASE = 3 };
enum {
    OP_PCTB = OP_BASE, OP_BBWIDTH, OP_RATIO, OP_CHOP, OP_SUB, OP_DIV_OR, OP_R2, OP_LIN01,
    OP_MM01, OP_BALANCE, OP_SIGNMUL, OP_CLIPK, OP_NANSUM0, OP_TSTRENGTH, OP_BREAKOUT,
    OP_BREAKDOWN, OP_GAP, OP_REGIME, OP_TDIR, OP_EQ, OP_END
};

/*
 * Instruction i reads v[in_idx[MAX_IN*i + k]] (k < n_in[i]) and writes
 * v[out_idx[MAX_OUT*i + k]] (k < n_out[i]):
 *   K_TA   advances handle[i] with fn[i] (an _Update or a _Peek function); integer
 *          outputs are converted to double, or, when tag[i] >= 0 ("sparse":
 *          TA-Lib's candlestick functions are 0 on most bars), not written: each
 *          non-zero one is appended to hits as the pair (tag[i] + k, value).
 *   K_LAG  outputs lagbuf[lag_off[i]], the oldest of its lag_k[i] values; after
 *          the pass, when commit, the buffer shifts and takes this bar's input.
 *   K_ANCHOR  session/month/year-anchored VWAP and OBV (anchors.AnchoredState.step):
 *          inputs (anchor id, price, price*volume, volume, signed volume), outputs
 *          (vwap, obv), state lagbuf[lag_off[i] ...] = (anchor id or NaN, sum pv,
 *          sum volume, sum signed volume), updated when commit.
 *   OP_*   an element-wise operation with constants cst[N_CONST*i + k].
 */
typedef struct {
    int32_t n;
    int32_t failed; /* the instruction that failed (when jb_run returns non-zero) */
    int32_t n_hits;
    int32_t commit;
    const int32_t *kind;
    const int32_t *n_in;
    const int32_t *n_out;
    const int32_t *is_int;
    P const *fn;
    P const *handle;
    const int32_t *in_idx;
    const int32_t *out_idx;
    const D *cst;
    const int32_t *tag;
    const int32_t *lag_off;
    const int32_t *lag_k;
    int32_t *hits; /* room for 2 * MAX_OUT * n values */
    D *lagbuf;
    D *v;
} jb_program;

typedef rc_t (*f1_1)(P, D, P);
typedef rc_t (*f1_2)(P, D, P, P);
typedef rc_t (*f1_3)(P, D, P, P, P);
typedef rc_t (*f2_1)(P, D, D, P);
typedef rc_t (*f2_2)(P, D, D, P, P);
typedef rc_t (*f2_3)(P, D, D, P, P, P);
typedef rc_t (*f3_1)(P, D, D, D, P);
typedef rc_t (*f3_2)(P, D, D, D, P, P);
typedef rc_t (*f3_3)(P, D, D, D, P, P, P);
typedef rc_t (*f4_1)(P, D, D, D, D, P);
typedef rc_t (*f4_2)(P, D, D, D, D, P, P);
typedef rc_t (*f4_3)(P, D, D, D, D, P, P, P);
typedef rc_t (*f5_1)(P, D, D, D, D, D, P);
typedef rc_t (*f5_2)(P, D, D, D, D, D, P, P);
typedef rc_t (*f5_3)(P, D, D, D, D, D, P, P, P);

static rc_t ta_call(jb_program *p, int32_t i)
{
    D *v = p->v;
    const int32_t *a = p->in_idx + MAX_IN * i;
    const int32_t *b = p->out_idx + MAX_OUT * i;
    union { D d; int32_t i; } o[MAX_OUT];
    P f = p->fn[i];
    P s = p->handle[i];
    int32_t no = p->n_out[i];
    rc_t rc;
    switch (p->n_in[i] * 4 + no) {
    case 5:  rc = ((f1_1)f)(s, v[a[0]], &o[0]); break;
    case 6:  rc = ((f1_2)f)(s, v[a[0]], &o[0], &o[1]); break;
    case 7:  rc = ((f1_3)f)(s, v[a[0]], &o[0], &o[1], &o[2]); break;
    case 9:  rc = ((f2_1)f)(s, v[a[0]], v[a[1]], &o[0]); break;
    case 10: rc = ((f2_2)f)(s, v[a[0]], v[a[1]], &o[0], &o[1]); break;
    case 11: rc = ((f2_3)f)(s, v[a[0]], v[a[1]], &o[0], &o[1], &o[2]); break;
    case 13: rc = ((f3_1)f)(s, v[a[0]], v[a[1]], v[a[2]], &o[0]); break;
    case 14: rc = ((f3_2)f)(s, v[a[0]], v[a[1]], v[a[2]], &o[0], &o[1]); break;
    case 15: rc = ((f3_3)f)(s, v[a[0]], v[a[1]], v[a[2]], &o[0], &o[1], &o[2]); break;
    case 17: rc = ((f4_1)f)(s, v[a[0]], v[a[1]], v[a[2]], v[a[3]], &o[0]); break;
    case 18: rc = ((f4_2)f)(s, v[a[0]], v[a[1]], v[a[2]], v[a[3]], &o[0], &o[1]); break;
    case 19: rc = ((f4_3)f)(s, v[a[0]], v[a[1]], v[a[2]], v[a[3]], &o[0], &o[1], &o[2]); break;
    case 21: rc = ((f5_1)f)(s, v[a[0]], v[a[1]], v[a[2]], v[a[3]], v[a[4]], &o[0]); break;
    case 22: rc = ((f5_2)f)(s, v[a[0]], v[a[1]], v[a[2]], v[a[3]], v[a[4]], &o[0], &o[1]); break;
    case 23: rc = ((f5_3)f)(s, v[a[0]], v[a[1]], v[a[2]], v[a[3]], v[a[4]], &o[0], &o[1], &o[2]); break;
    default: return -1;
    }
    if (rc != 0) return rc;
    if (p->tag[i] >= 0) {
        for (int32_t k = 0; k < no; k++) {
            if (o[k].i != 0) {
                p->hits[2 * p->n_hits] = p->tag[i] + k;
                p->hits[2 * p->n_hits + 1] = o[k].i;
                p->n_hits++;
            }
        }
    } else if (p->is_int[i]) {
        for (int32_t k = 0; k < no; k++) v[b[k]] = (D)o[k].i;
    } else {
        for (int32_t k = 0; k < no; k++) v[b[k]] = o[k].d;
    }
    return 0;
}

static D min1(D t) { return t > 1.0 ? 1.0 : t; }
static D clip01(D t) { return t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t); }

/* The expressions of ops.OPS, operation by operation (a = inputs, c = constants). */
static int op(int32_t kind, const D *a, int32_t n_in, const D *c, D *r)
{
    D t, u;
    switch (kind) {
    case OP_PCTB: *r = (a[2] - a[1]) > 0 ? (a[0] - a[1]) / (a[2] - a[1]) : 0.5; break;
    case OP_BBWIDTH: *r = a[1] != 0 ? (a[2] - a[0]) / a[1] : 0.0; break;
    case OP_RATIO: *r = a[1] > 0 ? a[0] / a[1] : NAN; break;
    case OP_CHOP:
        *r = ((a[1] - a[2]) > 0 && a[0] > 0) ? 100.0 * log10(a[0] / (a[1] - a[2])) / log10(c[0]) : 100.0;
        break;
    case OP_SUB: *r = a[0] - a[1]; break;
    case OP_DIV_OR: *r = a[1] > 0 ? a[0] / a[1] * c[1] : c[0]; break;
    case OP_R2: *r = a[1] > 0 ? clip01(a[0] * a[0] * c[1] / (c[0] * a[1])) : 0.0; break;
    case OP_LIN01: *r = clip01((a[0] - c[0]) / c[1]); break;
    case OP_MM01: *r = a[2] > a[1] ? (a[0] - a[1]) / (a[2] - a[1]) : 0.5; break;
    case OP_BALANCE: *r = (a[0] + a[1]) > 0 ? (a[0] - a[1]) / (a[0] + a[1]) : 0.0; break;
    case OP_SIGNMUL: *r = a[0] > 0 ? a[1] : (a[0] < 0 ? -a[1] : 0.0); break;
    case OP_CLIPK:
        t = (a[0] - c[0]) * c[1];
        *r = t < -1.0 ? -1.0 : (t > 1.0 ? 1.0 : t);
        break;
    case OP_NANSUM0:
        t = 0.0;
        for (int32_t k = 0; k < n_in; k++) t = t + (a[k] == a[k] ? a[k] : 0.0);
        *r = t;
        break;
    case OP_TSTRENGTH: *r = 0.5 * a[0] + 0.5 * min1(a[1] / 50.0); break;
    case OP_BREAKOUT:
        if (a[0] > a[1] && a[2] <= a[3] && a[4] >= c[0]) {
            t = a[5] > 0 ? (a[0] - a[1]) / a[5] : 1.0;
            u = (a[4] - 1.0) / 2.0;
            *r = 0.5 * min1(t) + 0.5 * min1(u);
        } else {
            *r = 0.0;
        }
        break;
    case OP_BREAKDOWN:
        if (a[0] < a[1] && a[2] >= a[3] && a[4] >= c[0]) {
            t = a[5] > 0 ? (a[1] - a[0]) / a[5] : 1.0;
            u = (a[4] - 1.0) / 2.0;
            *r = 0.5 * min1(t) + 0.5 * min1(u);
        } else {
            *r = 0.0;
        }
        break;
    case OP_GAP:
        *r = a[0] > a[1] ? min1(a[2] > 0 ? (a[0] - a[1]) / a[2] : 1.0) : 0.0;
        break;
    case OP_REGIME:
        if (a[0] != a[0] || a[1] != a[1] || a[2] != a[2] || a[3] != a[3] || a[4] != a[4])
            *r = 0.0;
        else
            *r = a[4] >= c[2] ? 4.0 : ((a[0] >= c[0] && a[3] < c[1]) ? (a[1] >= a[2] ? 1.0 : 2.0) : 3.0);
        break;
    case OP_TDIR:
        if (a[0] != a[0] || a[1] != a[1])
            *r = 0.0;
        else
            *r = (a[0] > 0 && a[1] >= c[0]) ? 1.0 : ((a[0] < 0 && a[1] >= c[0]) ? 2.0 : 3.0);
        break;
    case OP_EQ: *r = a[0] == c[0] ? 1.0 : 0.0; break;
    default: return -1;
    }
    return 0;
}

/* Run every instruction once. Returns 0, or the TA-Lib return code of the
 * instruction that failed (its index in p->failed); -1 for an unknown kind or shape. */
int jb_run(jb_program *p)
{
    D *v = p->v;
    D a[MAX_IN];
    p->n_hits = 0;
    for (int32_t i = 0; i < p->n; i++) {
        int32_t kind = p->kind[i];
        int rc;
        if (kind == K_TA) {
            rc = ta_call(p, i);
        } else if (kind == K_LAG) {
            v[p->out_idx[MAX_OUT * i]] = p->lagbuf[p->lag_off[i]];
            rc = 0;
        } else if (kind == K_ANCHOR) {
            const int32_t *ix = p->in_idx + MAX_IN * i;
            const int32_t *ox = p->out_idx + MAX_OUT * i;
            D *st = p->lagbuf + p->lag_off[i];
            D ident = v[ix[0]], sv = v[ix[4]];
            D cpv = 0.0, cv = 0.0, csv = 0.0;
            if (ident == st[0]) { /* a NaN id (nothing yet) never equals */
                cpv = st[1];
                cv = st[2];
                csv = st[3];
            }
            cpv = cpv + v[ix[2]];
            cv = cv + v[ix[3]];
            csv = csv + (sv != sv ? 0.0 : sv);
            if (p->commit) {
                st[0] = ident;
                st[1] = cpv;
                st[2] = cv;
                st[3] = csv;
            }
            v[ox[0]] = cv > 0 ? cpv / cv : v[ix[1]];
            v[ox[1]] = csv;
            rc = 0;
        } else {
            const int32_t *ix = p->in_idx + MAX_IN * i;
            int32_t n_in = p->n_in[i];
            for (int32_t k = 0; k < n_in; k++) a[k] = v[ix[k]];
            rc = op(kind, a, n_in, p->cst + N_CONST * i, &v[p->out_idx[MAX_OUT * i]]);
        }
        if (rc != 0) {
            p->failed = i;
            return rc;
        }
    }
    if (p->commit) {
        for (int32_t i = 0; i < p->n; i++) {
            if (p->kind[i] == K_LAG) {
                D *buf = p->lagbuf + p->lag_off[i];
                int32_t k = p->lag_k[i];
                memmove(buf, buf + 1, (size_t)(k - 1) * sizeof(D));
                buf[k - 1] = v[p->in_idx[MAX_IN * i]];
            }
        }
    }
    return 0;
}

/* What native.py checks before using this build: the layout version (bump it on any
 * change to jb_program or the instruction kinds) and the number of operations. */
int jb_abi(void) { return 2; }
int jb_n_ops(void) { return OP_END - OP_BASE; }
