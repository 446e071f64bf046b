import { describe, expect, it } from 'vitest';
import { bucketQuantile, parseProm, routeLatencies, total } from '../src/lib/prom';
import { flatten, pick, pickMs, CLIENT_KEYS, LAG_KEYS, LATENCY_P99_KEYS, THROUGHPUT_KEYS } from '../src/lib/stats';

const TEXT = `# HELP jonbu_http_request_duration_seconds HTTP request latency by route template.
# TYPE jonbu_http_request_duration_seconds histogram
jonbu_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/health"} 8.0
jonbu_http_request_duration_seconds_bucket{le="0.01",method="GET",route="/api/v1/health"} 10.0
jonbu_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/v1/health"} 10.0
jonbu_http_request_duration_seconds_count{method="GET",route="/api/v1/health"} 10.0
jonbu_http_request_duration_seconds_sum{method="GET",route="/api/v1/health"} 0.04
jonbu_ws_clients 3.0
jonbu_http_requests_total{method="GET",route="/a",status="200"} 5.0
jonbu_http_requests_total{method="GET",route="/a",status="404"} 2.0
process_resident_memory_bytes 1.2e+08
weird line without value
label_escape{msg="a \\"quoted\\" word"} 1
`;

describe('prometheus text', () => {
  it('parses samples, labels and escapes', () => {
    const s = parseProm(TEXT);
    expect(total(s, 'jonbu_ws_clients')).toBe(3);
    expect(total(s, 'jonbu_http_requests_total')).toBe(7);
    expect(total(s, 'jonbu_http_requests_total', { status: '404' })).toBe(2);
    expect(total(s, 'process_resident_memory_bytes')).toBe(1.2e8);
    expect(total(s, 'missing')).toBeNull();
    expect(s.find((x) => x.name === 'label_escape')?.labels.msg).toBe('a "quoted" word');
  });
  it('computes per-route latency', () => {
    const [health] = routeLatencies(parseProm(TEXT), 'jonbu_http_request_duration_seconds');
    expect(health!.route).toBe('/api/v1/health');
    expect(health!.count).toBe(10);
    expect(health!.meanMs).toBeCloseTo(4);
    // 95% of 10 = 9.5 falls in the (5 ms, 10 ms] bucket, 1.5 of its 2 → 8.75 ms.
    expect(health!.p95Ms).toBeCloseTo(8.75);
  });
  it('estimates quantiles from buckets', () => {
    expect(bucketQuantile([], 0.5)).toBeNull();
    expect(bucketQuantile([{ le: 1, count: 0 }, { le: Infinity, count: 0 }], 0.5)).toBeNull();
    expect(bucketQuantile([{ le: 1, count: 10 }, { le: Infinity, count: 10 }], 0.5)).toBeCloseTo(0.5);
    expect(bucketQuantile([{ le: 1, count: 5 }, { le: Infinity, count: 10 }], 0.99)).toBe(1);
  });
});

describe('stats', () => {
  it('flattens nested objects and picks by key pattern', () => {
    const flat = flatten({ running: true, ws: { clients: 4, sent: 10 }, stream: { symbols: ['A', 'B'], nested: { lag_ms: 2.5 } } });
    expect(flat).toEqual({ running: true, 'ws.clients': 4, 'ws.sent': 10, 'stream.symbols': 'A, B', 'stream.nested.lag_ms': 2.5 });
    expect(pick(flat, CLIENT_KEYS)).toBe(4);
    expect(pick(flat, [/nothing/])).toBeNull();
  });
  it('reads the stream daemon status (units normalised to ms)', () => {
    const flat = flatten({ running: false, stream: { throughput: { trades_per_s: 195.2 }, lag_s: 0.008, latency_ms: { p50: 30.5, p99: 65.7 }, trades: { total: 6351 } }, ws: { clients: 2 } });
    expect(pick(flat, THROUGHPUT_KEYS)).toBe(195.2);
    expect(pickMs(flat, LAG_KEYS)).toBeCloseTo(8);
    expect(pickMs(flat, LATENCY_P99_KEYS)).toBeCloseTo(65.7);
    expect(pick(flat, CLIENT_KEYS)).toBe(2);
  });
});
