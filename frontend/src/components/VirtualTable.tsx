/** A virtualised, accessible data grid (ARIA table roles, row indices for screen readers). */

import { useVirtualizer } from '@tanstack/react-virtual';
import { useRef, type ReactNode } from 'react';

export interface Column<T> {
  key: string;
  header: string;
  align?: 'left' | 'right';
  width: string;
  render: (row: T, index: number) => ReactNode;
}

export function VirtualTable<T>({
  rows,
  columns,
  label,
  height = 480,
  rowHeight = 32,
  rowClassName,
  testId,
}: {
  rows: readonly T[];
  columns: Column<T>[];
  label: string;
  height?: number;
  rowHeight?: number;
  rowClassName?: (row: T, index: number) => string;
  testId?: string;
}) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => rowHeight,
    overscan: 12,
  });
  const template = columns.map((c) => c.width).join(' ');
  const minWidth = `${columns.length * 6.5}rem`;
  return (
    <div
      ref={scrollRef}
      tabIndex={0}
      role="region"
      aria-label={`${label} (scrollable)`}
      className="relative overflow-auto rounded-lg border border-slate-200 dark:border-slate-800"
      style={{ height }}
      data-testid={testId}
    >
      <div role="table" aria-label={label} aria-rowcount={rows.length + 1} style={{ minWidth }}>
        <div role="rowgroup" className="sticky top-0 z-10 bg-slate-50 dark:bg-slate-900">
          <div role="row" aria-rowindex={1} className="grid border-b border-slate-200 dark:border-slate-800" style={{ gridTemplateColumns: template, height: rowHeight }}>
            {columns.map((c) => (
              <div key={c.key} role="columnheader" className={`table-head flex items-center px-3 ${c.align === 'right' ? 'justify-end' : ''}`}>
                {c.header}
              </div>
            ))}
          </div>
        </div>
        <div role="rowgroup" style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {virtualizer.getVirtualItems().map((item) => {
            const row = rows[item.index]!;
            return (
              <div
                key={item.key}
                role="row"
                aria-rowindex={item.index + 2}
                className={`num absolute inset-x-0 grid border-b border-slate-100 text-sm dark:border-slate-800/70 ${rowClassName?.(row, item.index) ?? ''}`}
                style={{ gridTemplateColumns: template, height: item.size, transform: `translateY(${item.start}px)` }}
              >
                {columns.map((c) => (
                  <div key={c.key} role="cell" className={`flex items-center overflow-hidden px-3 whitespace-nowrap ${c.align === 'right' ? 'justify-end' : ''}`}>
                    {c.render(row, item.index)}
                  </div>
                ))}
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
