/**
 * charts — bar charts as inline SVG built from numbers only (no JavaScript,
 * no external files). barChart() scales values to the tallest bar and
 * labels the first and last day and the maximum.
 */
import { html, raw, type SafeHtml } from './html.js';

export function barChart(
  label: string,
  maxLabel: string,
  points: Array<{ x: string; y: number }>,
  format: (n: number) => string,
): SafeHtml {
  const w = 600;
  const h = 160;
  const pad = 20;
  const max = Math.max(1, ...points.map((p) => p.y));
  const bw = (w - 2 * pad) / Math.max(1, points.length);
  const bars = points
    .map((p, i) => {
      const bh = Math.round(((h - 2 * pad) * p.y) / max);
      const x = (pad + i * bw + 1).toFixed(1);
      return `<rect x="${x}" y="${h - pad - bh}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${bh}" fill="#1a5fb4"></rect>`;
    })
    .join('');
  const first = points[0]?.x ?? '';
  const last = points[points.length - 1]?.x ?? '';
  return html`<figure>
    <figcaption>${label}</figcaption>
    <svg
      xmlns="http://www.w3.org/2000/svg"
      width="${w}"
      height="${h}"
      viewBox="0 0 ${w} ${h}"
      role="img"
      aria-label="${label}"
    >
      <line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#999"></line>
      ${raw(bars)}
      <text x="${pad}" y="${h - 4}" font-size="11">${first}</text>
      <text x="${w - pad}" y="${h - 4}" font-size="11" text-anchor="end">${last}</text>
      <text x="${pad}" y="12" font-size="11">${maxLabel} ${format(max)}</text>
    </svg>
  </figure>`;
}
