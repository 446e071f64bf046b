// The committed client types must match the committed OpenAPI document.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import openapiTS, { astToString } from 'openapi-typescript';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');

describe('generated API types', () => {
  it('src/api/schema.d.ts is up to date with openapi.json (npm run gen:api)', async () => {
    const doc = JSON.parse(readFileSync(join(root, 'openapi.json'), 'utf8'));
    const generated = astToString(await openapiTS(doc));
    const committed = readFileSync(join(root, 'src/api/schema.d.ts'), 'utf8');
    const body = (s: string) => s.replace(/^\/\*\*[\s\S]*?\*\/\s*/, '').trim();
    expect(body(committed)).toBe(body(generated));
  });
  it('documents every route the dashboard calls', () => {
    const doc = JSON.parse(readFileSync(join(root, 'openapi.json'), 'utf8'));
    for (const path of [
      '/api/v1/health',
      '/api/v1/symbols',
      '/api/v1/symbols/{symbol}',
      '/api/v1/ohlcv/{symbol}',
      '/api/v1/ohlcv/{symbol}/history',
      '/api/v1/ohlcv/{symbol}/enriched',
      '/api/v1/ohlcv/{symbol}/narrative',
      '/api/v1/rag/search',
      '/api/v1/stream/stats',
      '/api/v1/console',
      '/api/v1/console/commands',
    ]) {
      expect(doc.paths[path], path).toBeTruthy();
    }
  });
});
