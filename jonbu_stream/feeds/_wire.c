/*
 * Alpaca trade frames (msgpack) decoded straight into columns.
 *
 * The streaming feed (jonbu_stream/feeds/alpaca.py, AlpacaFeed._decode) receives
 * WebSocket frames that are a msgpack array of trade maps
 *     [{"T": "t", "S": "AAPL", "i": 1, "x": "V", "p": 10.5, "s": 100,
 *       "t": Timestamp, "c": ["@"], "z": "C"}, ...]
 * and turns them into a TradeBatch (symbol id int32, time ns int64, price and
 * size float64, trade id int64). Its Python fast path costs ~150-200 us for a
 * 250-trade frame (msgpack.unpackb builds ~3000 objects); this file does the same
 * in one pass over the bytes, with no Python API (jonbu_stream/feeds/wire.py loads
 * it with ctypes).
 *
 * Contract: jb_wire_decode returns EITHER exactly the columns the Python fast path
 * produces (same values, bit for bit), OR JB_FALLBACK ("take the Python path"),
 * never anything else. It falls back on anything it is not sure about:
 *   - a top level that is not an array, bytes after the top-level array
 *     (msgpack.unpackb raises ExtraData), a truncated or malformed frame;
 *   - an element that is not a map, a map key that is not str/bin (unpackb's
 *     strict_map_key), a key among T,S,t,p,s,i seen twice, one of them missing;
 *   - "T" other than "t"; "S" not str/bin or not in the symbol table;
 *   - "t" not an integer fitting int64 nor a Timestamp (ext -1 of 4, 8 or 12 data
 *     bytes, nanoseconds <= 999999999) whose sec * 1e9 + nsec fits int64;
 *   - "i" not an integer fitting int64; "p"/"s" not an integer or float (nil,
 *     booleans, strings, ...);
 *   - in skipped values: the reserved byte 0xc1, an ext -1 with a length msgpack
 *     rejects, an ext of another negative (reserved) type, a nested map key that is
 *     not str/bin, nesting deeper than JB_MAX_DEPTH.
 * str and bin are both accepted wherever Python sees bytes (raw=True decodes both
 * to bytes). Integers become doubles with C's conversion, which on x86-64/gcc is
 * correctly rounded (round-half-even) like Python's int -> float (what numpy does
 * with a Python int); float32 is widened to double as the msgpack C unpacker does.
 *
 * Every read is bounds-checked against the end of the frame. The symbol table is
 * an open-addressing hash table (FNV-1a, linear probing) over the names given by
 * the wrapper, built here by jb_wire_index so that both sides use the same hash.
 *
 * Speed: ~7 us for a 250-trade frame of ~14 KB (the hot helpers are forced inline,
 * the usual 1-byte keys and short skipped values take a fast path).
 *
 * Built with -O2 -ffp-contract=off; warnings-free with -Wall -Wextra.
 */
#include <stdint.h>
#include <string.h>

#define JB_ABI 1         /* bump on any change to jb_wire or the return codes */
#define JB_MAX_DEPTH 32  /* nesting allowed inside skipped values */
#define JB_MIN_TRADE 20  /* the fewest bytes a well-formed trade map can take */

#if defined(__GNUC__)
#define HOT static inline __attribute__((always_inline))
#else
#define HOT static inline
#endif

/* Return codes of jb_wire_decode (>= 0: the number of trades decoded). */
#define JB_FALLBACK (-1)
#define JB_GROW (-2) /* the output buffers hold fewer than `need` trades */

typedef struct {
    /* symbol table (set by the wrapper; slot filled by jb_wire_index) */
    int64_t n_names;
    int64_t mask;        /* number of slots - 1 (a power of two >= 2 * n_names) */
    const uint8_t *blob; /* the names, one after the other */
    const int64_t *off;  /* n_names + 1 offsets into blob */
    const int32_t *sid;  /* the id of each name */
    int32_t *slot;       /* mask + 1 entries: a name index, or -1 */
    /* outputs: room for cap trades */
    int64_t cap;
    int32_t *sym;
    int64_t *ts;
    double *price;
    double *size;
    int64_t *tid;
    int64_t need;   /* with JB_GROW: the trades of the frame */
    int64_t reason; /* with JB_FALLBACK: the offset in the frame where it gave up (diagnostics) */
} jb_wire;

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} cur_t;

HOT uint64_t fnv1a(const uint8_t *s, uint64_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (uint64_t k = 0; k < n; k++) {
        h ^= s[k];
        h *= 1099511628211ULL;
    }
    h ^= n;
    h *= 1099511628211ULL;
    return h ^ (h >> 29);
}

/* Fill w->slot from the names. Returns 0, or -1 when the table is too small. */
int jb_wire_index(jb_wire *w)
{
    uint64_t nslots = (uint64_t)w->mask + 1;
    if (w->n_names < 0 || (uint64_t)w->n_names * 2 > nslots) return -1;
    for (uint64_t k = 0; k < nslots; k++) w->slot[k] = -1;
    for (int64_t i = 0; i < w->n_names; i++) {
        const uint8_t *s = w->blob + w->off[i];
        uint64_t n = (uint64_t)(w->off[i + 1] - w->off[i]);
        uint64_t h = fnv1a(s, n) & (uint64_t)w->mask;
        while (w->slot[h] >= 0) h = (h + 1) & (uint64_t)w->mask;
        w->slot[h] = (int32_t)i;
    }
    return 0;
}

HOT int same(const uint8_t *a, const uint8_t *b, uint64_t n)
{
    if (n > 16) return memcmp(a, b, n) == 0;
    for (uint64_t k = 0; k < n; k++)
        if (a[k] != b[k]) return 0;
    return 1;
}

/* The id of name s[0:n], or -1 when unknown. */
HOT int64_t lookup(const jb_wire *w, const uint8_t *s, uint64_t n)
{
    if (w->n_names <= 0) return -1;
    uint64_t h = fnv1a(s, n) & (uint64_t)w->mask;
    for (;;) {
        int32_t i = w->slot[h];
        if (i < 0) return -1;
        const uint8_t *name = w->blob + w->off[i];
        uint64_t len = (uint64_t)(w->off[i + 1] - w->off[i]);
        if (len == n && same(name, s, n)) return w->sid[i];
        h = (h + 1) & (uint64_t)w->mask;
    }
}

/* ------------------------------------------------------------ bounded reads */
HOT size_t left(const cur_t *c) { return (size_t)(c->end - c->p); }

HOT int take(cur_t *c, size_t n, const uint8_t **out)
{
    if (left(c) < n) return -1;
    *out = c->p;
    c->p += n;
    return 0;
}

HOT int u8(cur_t *c, uint8_t *v)
{
    if (left(c) < 1) return -1;
    *v = *c->p++;
    return 0;
}

HOT uint64_t be(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int k = 0; k < n; k++) v = (v << 8) | b[k];
    return v;
}

/* A big-endian unsigned of n bytes. */
HOT int ube(cur_t *c, int n, uint64_t *v)
{
    const uint8_t *b;
    if (take(c, (size_t)n, &b)) return -1;
    *v = be(b, n);
    return 0;
}

/* A str or bin (both are bytes to Python with raw=True). */
HOT int str_or_bin(cur_t *c, const uint8_t **s, uint64_t *n)
{
    uint8_t b;
    uint64_t len;
    if (u8(c, &b)) return -1;
    if (b >= 0xa0 && b <= 0xbf) len = b & 0x1f;
    else if (b == 0xd9 || b == 0xc4) { if (ube(c, 1, &len)) return -1; }
    else if (b == 0xda || b == 0xc5) { if (ube(c, 2, &len)) return -1; }
    else if (b == 0xdb || b == 0xc6) { if (ube(c, 4, &len)) return -1; }
    else return -1;
    if (take(c, (size_t)len, s)) return -1;
    *n = len;
    return 0;
}

/* An ext header: its type and its data (length n). */
HOT int ext_of(cur_t *c, uint8_t b, int8_t *type, const uint8_t **data, uint64_t *n)
{
    uint64_t len;
    const uint8_t *t;
    switch (b) {
    case 0xd4: len = 1; break;
    case 0xd5: len = 2; break;
    case 0xd6: len = 4; break;
    case 0xd7: len = 8; break;
    case 0xd8: len = 16; break;
    case 0xc7: if (ube(c, 1, &len)) return -1; break;
    case 0xc8: if (ube(c, 2, &len)) return -1; break;
    case 0xc9: if (ube(c, 4, &len)) return -1; break;
    default: return -1;
    }
    if (take(c, 1, &t)) return -1;
    *type = (int8_t)t[0];
    if (take(c, (size_t)len, data)) return -1;
    *n = len;
    return 0;
}

HOT int is_ext(uint8_t b) { return (b >= 0xd4 && b <= 0xd8) || (b >= 0xc7 && b <= 0xc9); }

/* The parts of a msgpack Timestamp (ext -1), as msgpack's unpacker reads them;
 * -1 where it raises (a length other than 4, 8, 12; nanoseconds above 999999999). */
HOT int ts_parts(const uint8_t *d, uint64_t n, int64_t *sec, uint64_t *nsec)
{
    if (n == 4) {
        *sec = (int64_t)be(d, 4);
        *nsec = 0;
    } else if (n == 8) {
        uint64_t v = be(d, 8);
        *nsec = v >> 34;
        *sec = (int64_t)(v & 0x3ffffffffULL);
    } else if (n == 12) {
        *nsec = be(d, 4);
        *sec = (int64_t)be(d + 4, 8);
    } else {
        return -1;
    }
    return *nsec > 999999999ULL ? -1 : 0;
}

/* A Timestamp as ns since the epoch, as msgpack's unpacker with timestamp=2
 * computes it (sec * 10**9 + nsec); -1 when invalid or out of int64. */
HOT int timestamp_ns(const uint8_t *d, uint64_t n, int64_t *out)
{
    int64_t sec, ns;
    uint64_t nsec;
    int64_t borrow;
    if (ts_parts(d, n, &sec, &nsec)) return -1;
    /* A negative sec borrows one second so that the product stays in range when the sum
     * does (e.g. -(2**63) ns is sec -9223372037 + 145224192 ns). */
    borrow = sec < 0 ? 1 : 0;
    if (__builtin_mul_overflow(sec + borrow, (int64_t)1000000000, &ns)) return -1;
    if (__builtin_add_overflow(ns, (int64_t)nsec - borrow * 1000000000, &ns)) return -1;
    *out = ns;
    return 0;
}

/* An integer of any width. *big is set for a uint64 above INT64_MAX (then *u holds it). */
HOT int integer(cur_t *c, uint8_t b, int64_t *v, uint64_t *u, int *big)
{
    uint64_t x;
    *big = 0;
    if (b <= 0x7f) { *v = b; return 0; }
    if (b >= 0xe0) { *v = (int8_t)b; return 0; }
    switch (b) {
    case 0xcc: if (ube(c, 1, &x)) return -1; *v = (int64_t)x; return 0;
    case 0xcd: if (ube(c, 2, &x)) return -1; *v = (int64_t)x; return 0;
    case 0xce: if (ube(c, 4, &x)) return -1; *v = (int64_t)x; return 0;
    case 0xcf:
        if (ube(c, 8, &x)) return -1;
        if (x > (uint64_t)INT64_MAX) { *big = 1; *u = x; *v = 0; }
        else *v = (int64_t)x;
        return 0;
    case 0xd0: if (ube(c, 1, &x)) return -1; *v = (int8_t)(uint8_t)x; return 0;
    case 0xd1: if (ube(c, 2, &x)) return -1; *v = (int16_t)(uint16_t)x; return 0;
    case 0xd2: if (ube(c, 4, &x)) return -1; *v = (int32_t)(uint32_t)x; return 0;
    case 0xd3: if (ube(c, 8, &x)) return -1; *v = (int64_t)x; return 0;
    default: return -1;
    }
}

HOT int is_int(uint8_t b) { return b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3); }

/* An integer that fits int64 (a bigger one, or any other type: -1). */
HOT int int64_value(cur_t *c, int64_t *v)
{
    uint8_t b;
    uint64_t u;
    int big;
    if (u8(c, &b) || !is_int(b)) return -1;
    if (integer(c, b, v, &u, &big) || big) return -1;
    return 0;
}

/* "t": an integer or a Timestamp. */
HOT int time_value(cur_t *c, int64_t *v)
{
    uint8_t b;
    int8_t type;
    const uint8_t *d;
    uint64_t n, u;
    int big;
    if (u8(c, &b)) return -1;
    if (is_int(b)) return (integer(c, b, v, &u, &big) || big) ? -1 : 0;
    if (!is_ext(b) || ext_of(c, b, &type, &d, &n) || type != -1) return -1;
    return timestamp_ns(d, n, v);
}

/* "p", "s": an integer or a float, as a double. */
HOT int number(cur_t *c, double *v)
{
    uint8_t b;
    const uint8_t *d;
    uint64_t u;
    int64_t i;
    int big;
    if (u8(c, &b)) return -1;
    if (b == 0xcb) {
        if (take(c, 8, &d)) return -1;
        uint64_t bits = be(d, 8);
        memcpy(v, &bits, 8);
        return 0;
    }
    if (b == 0xca) {
        float f;
        if (take(c, 4, &d)) return -1;
        uint32_t bits = (uint32_t)be(d, 4);
        memcpy(&f, &bits, 4);
        *v = (double)f;
        return 0;
    }
    if (!is_int(b) || integer(c, b, &i, &u, &big)) return -1;
    *v = big ? (double)u : (double)i;
    return 0;
}

/* Skip one value of any type (nested up to JB_MAX_DEPTH); -1 where msgpack.unpackb
 * would fail (or we are unsure). */
static int skip(cur_t *c, int depth)
{
    uint8_t b;
    uint64_t n;
    const uint8_t *d;
    if (depth > JB_MAX_DEPTH || u8(c, &b)) return -1;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return 0;
    if (b >= 0xa0 && b <= 0xbf) return take(c, b & 0x1f, &d);
    if (b >= 0x90 && b <= 0x9f) { n = b & 0x0f; goto array; }
    if (b >= 0x80 && b <= 0x8f) { n = b & 0x0f; goto map; }
    switch (b) {
    case 0xc4: case 0xd9: if (ube(c, 1, &n)) return -1; return take(c, (size_t)n, &d);
    case 0xc5: case 0xda: if (ube(c, 2, &n)) return -1; return take(c, (size_t)n, &d);
    case 0xc6: case 0xdb: if (ube(c, 4, &n)) return -1; return take(c, (size_t)n, &d);
    case 0xca: return take(c, 4, &d);
    case 0xcb: return take(c, 8, &d);
    case 0xcc: case 0xd0: return take(c, 1, &d);
    case 0xcd: case 0xd1: return take(c, 2, &d);
    case 0xce: case 0xd2: return take(c, 4, &d);
    case 0xcf: case 0xd3: return take(c, 8, &d);
    case 0xdc: if (ube(c, 2, &n)) return -1; goto array;
    case 0xdd: if (ube(c, 4, &n)) return -1; goto array;
    case 0xde: if (ube(c, 2, &n)) return -1; goto map;
    case 0xdf: if (ube(c, 4, &n)) return -1; goto map;
    default:
        if (is_ext(b)) {
            int8_t type;
            int64_t sec;
            uint64_t nsec;
            if (ext_of(c, b, &type, &d, &n)) return -1;
            /* A Timestamp msgpack rejects: unpackb raises. */
            if (type == -1 && ts_parts(d, n, &sec, &nsec)) return -1;
            /* Other negative (reserved) types: unpackb raises ("code must be 0~127"). */
            if (type < -1) return -1;
            return 0;
        }
        return -1; /* 0xc1: never used */
    }
array:
    if (n > left(c)) return -1; /* each element takes a byte at least */
    for (uint64_t k = 0; k < n; k++)
        if (skip(c, depth + 1)) return -1;
    return 0;
map:
    if (n > left(c) / 2) return -1;
    for (uint64_t k = 0; k < n; k++) {
        const uint8_t *s;
        uint64_t len;
        if (str_or_bin(c, &s, &len)) return -1; /* strict_map_key: str or bytes keys only */
        if (skip(c, depth + 1)) return -1;
    }
    return 0;
}

/* skip(c, 1) with the common short values (fixstr, fixint) inline. */
HOT int skip_value(cur_t *c)
{
    if (left(c) >= 1) {
        uint8_t b = c->p[0];
        if (b <= 0x7f || b >= 0xe0) {
            c->p++;
            return 0;
        }
        if (b >= 0xa0 && b <= 0xbf && left(c) >= (size_t)(1 + (b & 0x1f))) {
            c->p += 1 + (b & 0x1f);
            return 0;
        }
    }
    return skip(c, 1);
}

HOT int container_len(cur_t *c, uint8_t fix_lo, uint8_t b16, uint8_t b32, uint64_t *n)
{
    uint8_t b;
    if (u8(c, &b)) return -1;
    if (b >= fix_lo && b <= fix_lo + 0x0f) { *n = b & 0x0f; return 0; }
    if (b == b16) return ube(c, 2, n);
    if (b == b32) return ube(c, 4, n);
    return -1;
}

enum { F_T = 1, F_S = 2, F_t = 4, F_p = 8, F_s = 16, F_i = 32, F_ALL = 63 };

/* One trade map into row k. */
static int trade(const jb_wire *w, cur_t *c, int64_t k)
{
    uint64_t n;
    unsigned seen = 0;
    if (container_len(c, 0x80, 0xde, 0xdf, &n)) return -1;
    if (n > left(c) / 2) return -1;
    for (uint64_t e = 0; e < n; e++) {
        const uint8_t *key, *s;
        uint64_t klen, len;
        unsigned bit;
        if (left(c) >= 2 && c->p[0] == 0xa1) { /* the usual key: a 1-byte fixstr */
            key = c->p + 1;
            klen = 1;
            c->p += 2;
        } else if (str_or_bin(c, &key, &klen)) {
            return -1;
        }
        if (klen != 1) {
            if (skip_value(c)) return -1;
            continue;
        }
        switch (key[0]) {
        case 'T': bit = F_T; break;
        case 'S': bit = F_S; break;
        case 't': bit = F_t; break;
        case 'p': bit = F_p; break;
        case 's': bit = F_s; break;
        case 'i': bit = F_i; break;
        default:
            if (skip_value(c)) return -1;
            continue;
        }
        if (seen & bit) return -1; /* a duplicate key: Python keeps the last, let it */
        seen |= bit;
        switch (bit) {
        case F_T:
            if (str_or_bin(c, &s, &len) || len != 1 || s[0] != 't') return -1;
            break;
        case F_S: {
            int64_t sid;
            if (str_or_bin(c, &s, &len)) return -1;
            sid = lookup(w, s, len);
            if (sid < 0) return -1;
            w->sym[k] = (int32_t)sid;
            break;
        }
        case F_t:
            if (time_value(c, &w->ts[k])) return -1;
            break;
        case F_p:
            if (number(c, &w->price[k])) return -1;
            break;
        case F_s:
            if (number(c, &w->size[k])) return -1;
            break;
        default:
            if (int64_value(c, &w->tid[k])) return -1;
            break;
        }
    }
    return seen == F_ALL ? 0 : -1;
}

/* Decode frame buf[0:len] into the output columns.
 * Returns the number of trades (0: an empty array, nothing to deliver), JB_GROW
 * (w->need: the trades of the frame; nothing decoded) or JB_FALLBACK. */
int64_t jb_wire_decode(const uint8_t *buf, int64_t len, jb_wire *w)
{
    cur_t c;
    uint64_t n;
    if (buf == 0 || len < 0) return JB_FALLBACK;
    c.p = buf;
    c.end = buf + len;
    w->reason = 0;
    if (container_len(&c, 0x90, 0xdc, 0xdd, &n)) goto fail;
    if (n == 0) {
        if (c.p != c.end) goto fail;
        return 0;
    }
    if (n > left(&c) / JB_MIN_TRADE) goto fail;
    if ((int64_t)n > w->cap) {
        w->need = (int64_t)n;
        return JB_GROW;
    }
    for (uint64_t k = 0; k < n; k++)
        if (trade(w, &c, (int64_t)k)) goto fail;
    if (c.p != c.end) goto fail; /* trailing bytes: unpackb raises ExtraData */
    return (int64_t)n;
fail:
    w->reason = (int64_t)(c.p - buf);
    return JB_FALLBACK;
}

/* What wire.py checks before using this build: the layout version of jb_wire. */
int jb_abi(void) { return JB_ABI; }
int64_t jb_wire_size(void) { return (int64_t)sizeof(jb_wire); }
