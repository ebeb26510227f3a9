/**
 * The benchmark's SVG plot: one row per measured latency, on a log-scale millisecond axis, with the median,
 * p95 and p99 marked and the budgets (100 ms per hop, 300 ms barge-in) drawn as lines. Hand-written: a
 * charting library would be far larger than these few shapes.
 */
import type { Summary } from './stats.js';

interface Report {
  calls: number;
  seconds: number;
  hops: Record<string, Summary & { description: string }>;
  voiceToVoice: Summary;
  bargeIn: { server: Summary; caller: Summary };
}

const WIDTH = 980;
const ROW = 34;
const LEFT = 340;
const RIGHT = 40;
const TOP = 60;
const MIN_MS = 0.1;
const MAX_MS = 5000;

export function renderSvg(report: Report): string {
  const rows: { label: string; s: Summary; budget?: number }[] = [
    ...Object.entries(report.hops).map(([hop, s]) => ({ label: `${hop}: ${s.description}`, s, budget: 100 })),
    { label: 'voice-to-voice (caller end of speech -> bot audio)', s: report.voiceToVoice },
    { label: 'barge-in, server (onset -> clear sent)', s: report.bargeIn.server, budget: 300 },
    { label: 'barge-in, caller (onset -> clear received)', s: report.bargeIn.caller, budget: 300 },
  ];
  const height = TOP + rows.length * ROW + 50;
  const x = (ms: number) => LEFT + (Math.log10(Math.min(Math.max(ms, MIN_MS), MAX_MS) / MIN_MS) / Math.log10(MAX_MS / MIN_MS)) * (WIDTH - LEFT - RIGHT);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="10" y="22" font-size="15" font-weight="bold">carevox latency: ${report.calls} concurrent calls, ${report.seconds} s</text>`);
  parts.push(`<text x="10" y="42" fill="#555">bar: p50 to p95, tick: p99, x: max (ms, log scale); dashed: budget</text>`);
  for (const tick of [0.1, 1, 10, 100, 1000]) {
    parts.push(`<line x1="${x(tick)}" y1="${TOP - 5}" x2="${x(tick)}" y2="${height - 40}" stroke="#eee"/>`);
    parts.push(`<text x="${x(tick)}" y="${height - 25}" text-anchor="middle" fill="#555">${tick} ms</text>`);
  }
  rows.forEach((row, i) => {
    const y = TOP + i * ROW + ROW / 2;
    parts.push(`<text x="${LEFT - 8}" y="${y + 4}" text-anchor="end">${escapeXml(row.label)}</text>`);
    if (row.budget) parts.push(`<line x1="${x(row.budget)}" y1="${y - 12}" x2="${x(row.budget)}" y2="${y + 12}" stroke="#c33" stroke-dasharray="3,2"/>`);
    const { p50, p95, p99, max, n } = row.s;
    if (n === 0 || p50 === null || p95 === null || p99 === null || max === null) {
      parts.push(`<text x="${LEFT + 4}" y="${y + 4}" fill="#999">no samples</text>`);
      return;
    }
    const over = row.budget !== undefined && p99 > row.budget;
    const colour = over ? '#d9534f' : '#337ab7';
    parts.push(`<rect x="${x(p50)}" y="${y - 7}" width="${Math.max(2, x(p95) - x(p50))}" height="14" fill="${colour}" opacity="0.7"/>`);
    parts.push(`<line x1="${x(p99)}" y1="${y - 10}" x2="${x(p99)}" y2="${y + 10}" stroke="${colour}" stroke-width="2"/>`);
    parts.push(`<text x="${x(max)}" y="${y + 4}" text-anchor="middle" fill="#333">x</text>`);
    parts.push(`<text x="${WIDTH - RIGHT + 4}" y="${y + 4}" font-size="10" fill="#555" text-anchor="end">n=${n}</text>`);
    parts.push(`<title>${escapeXml(`${row.label}: p50 ${p50} p95 ${p95} p99 ${p99} max ${max}`)}</title>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
