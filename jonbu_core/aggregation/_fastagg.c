/*
 * The aggregator's live-stream fast path, in C (no Python API: loaded with ctypes by
 * jonbu_core/aggregation/fast.py).
 *
 * What it does: one call of CandleAggregator.process() for the batch the live stream
 * nearly always delivers -- every trade valid, in event-time order within its symbol,
 * not late, and inside the minute whose bars (one per timeframe) are open and cached
 * by the last merge. For such a batch the vectorised NumPy path
 * (process -> group_trades -> _merge_cached) costs ~100 µs in per-call overhead of
 * some 80 array operations; this does the same work in one pass over the trades.
 *
 * Contract: ja_process() either does *exactly* what the NumPy path does -- the same
 * values, bit for bit (the sums are NumPy's own summation order: see pw_sum), the
 * same stable sort by symbol for the trade log -- and returns the number of trades,
 * or it changes nothing and returns 0 (the caller then runs the NumPy path). It never
 * reads or writes outside the arrays described by ja_state.
 *
 * Two passes: the first checks every condition (and counts trades per symbol)
 * without writing any state; the second sorts the trades by symbol (stable: a
 * counting sort into the caller's output arrays), reduces each symbol's run like
 * builder.group_trades, and merges it into the symbol's cached rows like
 * CandleAggregator._merge_cached.
 *
 * ja_take_partials() is CandleAggregator.partials() (BarPool.take_dirty, then
 * BarPool.snapshot of the rows of emitted timeframes) in one pass, with NumPy's
 * np.clip/np.maximum/np.minimum semantics for the VWAP.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JA_ABI 3
#define STATE_OPEN 1
#define PW_BLOCKSIZE 128
/* aggregator.TS_START, TS_END: bars are keyed by 32-bit label seconds */
#define TS_START (14LL * 86400 * 1000000000LL)
#define TS_END ((((int64_t)1 << 32) - 14LL * 86400) * 1000000000LL)

typedef struct {
    /* per symbol (n_sym entries; cur_rows is n_sym x n_tf, row-major) */
    int64_t n_sym;
    int64_t n_tf;
    int64_t *clock;
    int64_t *next;
    int64_t *last_ts;
    double *last_price;
    int64_t *cur_min;
    int64_t *cur_rows;
    /* the pool (cap entries) */
    int64_t cap;
    int8_t *state;
    uint8_t *dirty;
    double *open;
    double *high;
    double *low;
    double *close;
    double *volume;
    double *pv;
    int64_t *count;
    int64_t *tfirst;
    int64_t *tlast;
    /* scratch, n_sym entries each (contents irrelevant between calls) */
    int64_t *mark;   /* last call id that touched the symbol */
    int64_t *start;  /* per symbol: count, then write offset */
    int64_t *prev;   /* per symbol: event time of its previous trade in the batch */
    int32_t *touched; /* symbols of the batch, n_sym entries */
    int64_t call;    /* call id, bumped by each call */
    /* scratch, batch-sized (cap_batch entries): price * size in sorted order */
    int64_t cap_batch;
    double *pxsz;
    /* more of the pool (cap entries), for ja_take_partials */
    int32_t *sym;
    int8_t *tf;
    int64_t *label;
    int32_t *rev;
} ja_state;

int ja_abi(void) { return JA_ABI; }

/* NumPy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src, pairwise_sum),
 * which np.add.reduce/reduceat use for contiguous float64: an ufunc reduction starts
 * from the first element and adds pw_sum of the rest. */
static double pw_sum(const double *a, int64_t n) {
    if (n < 8) {
        double res = 0.;
        for (int64_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= PW_BLOCKSIZE) {
        double r[8];
        int64_t i;
        for (int k = 0; k < 8; k++) r[k] = a[k];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int k = 0; k < 8; k++) r[k] += a[i + k];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return pw_sum(a, n2) + pw_sum(a + n2, n - n2);
}

static double reduce_sum(const double *a, int64_t n) { return n > 1 ? a[0] + pw_sum(a + 1, n - 1) : a[0]; }

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/*
 * Process n trades (arrival order) if the fast path applies.
 *
 * n_known: symbols the aggregator knows (ids at or above it are an error for the
 * NumPy path to raise). minute_ns: the 1-minute bucket. lateness: allowed lateness.
 * Outputs (n entries each, written only on success): the trades sorted by symbol
 * (stable), as the trade log keeps them (o_id only when id is not NULL).
 * info (5 entries, written only on success): [0] 1 when a symbol's next transition
 * is due (next <= clock), [1] the largest clock of the batch's symbols, [2] the
 * number of symbols in the batch, [3] and [4] the earliest and latest event time.
 * Returns n on success, 0 when the NumPy path must run (nothing was written).
 */
int64_t ja_process(ja_state *st, int64_t n, const int32_t *sym, const int64_t *ts, const double *px,
                   const double *sz, const int64_t *id, int64_t n_known, int64_t minute_ns, int64_t lateness,
                   int32_t *o_sym, int64_t *o_ts, double *o_px, double *o_sz, int64_t *o_id, int64_t *info) {
    if (n <= 0 || n > st->cap_batch || minute_ns <= 0) return 0;
    int64_t lim = n_known < st->n_sym ? n_known : st->n_sym;
    int64_t call = ++st->call;
    int64_t n_touched = 0, t_min = INT64_MAX, t_max = INT64_MIN;
    const int64_t n_tf = st->n_tf;

    /* pass 1: check, count per symbol; no state is written but the scratch */
    for (int64_t j = 0; j < n; j++) {
        int32_t s = sym[j];
        double p = px[j], z = sz[j];
        int64_t t = ts[j];
        if (s < 0 || s >= lim) return 0;
        if (!(p > 0 && p < INFINITY && z >= 0 && z < INFINITY)) return 0;  /* NaN fails every comparison */
        if (t < TS_START || t >= TS_END) return 0; /* invalid: the NumPy path counts it */
        int64_t r = t % minute_ns;
        if (r < 0) r += minute_ns;
        if (t - r != st->cur_min[s]) return 0; /* another minute than the cached one */
        if (st->mark[s] != call) {
            /* first trade of the symbol in the batch: not late, its cached rows all open */
            int64_t c = st->clock[s] > t ? st->clock[s] : t;
            if (lateness < 0 || c < INT64_MIN + lateness) return 0; /* c - lateness would overflow */
            if (t < c - lateness) return 0;
            const int64_t *rows = st->cur_rows + (int64_t)s * n_tf;
            for (int64_t k = 0; k < n_tf; k++) {
                int64_t row = rows[k];
                if (row < 0 || row >= st->cap || st->state[row] != STATE_OPEN) return 0;
            }
            st->mark[s] = call;
            st->start[s] = 0;
            st->touched[n_touched++] = s;
        } else if (t < st->prev[s]) {
            return 0; /* out of order within the symbol: the NumPy path sorts by time */
        }
        st->prev[s] = t;
        st->start[s]++;
        if (t < t_min) t_min = t;
        if (t > t_max) t_max = t;
    }

    /* pass 2: stable counting sort by symbol into the outputs */
    qsort(st->touched, (size_t)n_touched, sizeof(int32_t), cmp_i32);
    int64_t off = 0;
    for (int64_t k = 0; k < n_touched; k++) {
        int32_t s = st->touched[k];
        int64_t c = st->start[s];
        st->start[s] = off;
        off += c;
    }
    for (int64_t j = 0; j < n; j++) {
        int32_t s = sym[j];
        int64_t at = st->start[s]++;
        o_sym[at] = s;
        o_ts[at] = ts[j];
        o_px[at] = px[j];
        o_sz[at] = sz[j];
        if (id) o_id[at] = id[j];
        st->pxsz[at] = px[j] * sz[j];
    }

    /* reduce each symbol's run (builder.group_trades) and merge it (_merge_cached) */
    int64_t due = 0, max_clock = INT64_MIN, a = 0;
    for (int64_t k = 0; k < n_touched; k++) {
        int32_t s = st->touched[k];
        int64_t b = st->start[s]; /* now the end of the run */
        double g_open = o_px[a], g_close = o_px[b - 1], g_high = o_px[a], g_low = o_px[a];
        for (int64_t j = a + 1; j < b; j++) {
            double p = o_px[j];
            if (p > g_high) g_high = p;
            if (p < g_low) g_low = p;
        }
        double g_vol = reduce_sum(o_sz + a, b - a), g_pv = reduce_sum(st->pxsz + a, b - a);
        int64_t g_count = b - a, g_first = o_ts[a], g_last = o_ts[b - 1];
        const int64_t *rows = st->cur_rows + (int64_t)s * n_tf;
        for (int64_t q = 0; q < n_tf; q++) {
            int64_t row = rows[q];
            /* np.maximum/np.minimum (no NaN here: every price passed the check) */
            if (g_high > st->high[row]) st->high[row] = g_high;
            if (g_low < st->low[row]) st->low[row] = g_low;
            st->volume[row] += g_vol;
            st->pv[row] += g_pv;
            st->count[row] += g_count;
            if (g_first < st->tfirst[row]) {
                st->open[row] = g_open;
                st->tfirst[row] = g_first;
            }
            if (g_last >= st->tlast[row]) {
                st->close[row] = g_close;
                st->tlast[row] = g_last;
            }
            st->dirty[row] = 1;
        }
        if (g_last > st->clock[s]) st->clock[s] = g_last;
        st->last_ts[s] = g_last;
        st->last_price[s] = g_close;
        if (st->next[s] <= st->clock[s]) due = 1;
        if (st->clock[s] > max_clock) max_clock = st->clock[s];
        a = b;
    }
    info[0] = due;
    info[1] = max_clock;
    info[2] = n_touched;
    info[3] = t_min;
    info[4] = t_max;
    return n;
}

/* np.maximum / np.minimum of floats as np.clip computes them (numpy/_core/src/npymath, clip.cpp):
 * a NaN first operand wins, else the comparison decides. */
static double np_max(double a, double b) { return isnan(a) ? a : (a > b ? a : b); }
static double np_min(double a, double b) { return isnan(a) ? a : (a < b ? a : b); }

/*
 * The open bars changed since the last call, among the live rows `krow` (key order):
 * their dirty flag is cleared; those of emitted timeframes (emitted[tf]) are written to
 * the outputs (cap entries each), in key order, with vwap = clip(pv / volume, low, high)
 * where volume > 0, else NaN, and kind = 0 (partial). Returns how many were written, or
 * -1 (nothing done) when the outputs could be too small or a row is out of range.
 */
int64_t ja_take_partials(ja_state *st, const int64_t *krow, int64_t n_live, const uint8_t *emitted, int64_t n_emitted,
                         int64_t cap, int32_t *o_sym, int8_t *o_tf, int64_t *o_label, double *o_open, double *o_high,
                         double *o_low, double *o_close, double *o_volume, int64_t *o_count, double *o_vwap,
                         int32_t *o_rev, int8_t *o_kind) {
    if (n_live > cap) return -1;
    for (int64_t j = 0; j < n_live; j++) {
        int64_t r = krow[j];
        if (r < 0 || r >= st->cap) return -1;
        int8_t t = st->tf[r];
        if (t < 0 || t >= n_emitted) return -1;
    }
    int64_t k = 0;
    for (int64_t j = 0; j < n_live; j++) {
        int64_t r = krow[j];
        if (!st->dirty[r]) continue;
        st->dirty[r] = 0;
        int8_t t = st->tf[r];
        if (!emitted[t]) continue;
        double vol = st->volume[r], lo = st->low[r], hi = st->high[r];
        o_sym[k] = st->sym[r];
        o_tf[k] = t;
        o_label[k] = st->label[r];
        o_open[k] = st->open[r];
        o_high[k] = hi;
        o_low[k] = lo;
        o_close[k] = st->close[r];
        o_volume[k] = vol;
        o_count[k] = st->count[r];
        o_vwap[k] = vol > 0 ? np_min(np_max(st->pv[r] / vol, lo), hi) : NAN;
        o_rev[k] = st->rev[r];
        o_kind[k] = 0;
        k++;
    }
    return k;
}
