import type { UsagePoint } from "../src/index.js";

export interface Panel {
  label: string;
  color: string;
  /** Light fill under the line (solid: some SVG renderers ignore opacity). */
  fill: string;
  /** Sliding-window usage over time (t in real ms). */
  series: UsagePoint[];
  /** Real ms at which the provider answered 429. */
  rejects: number[];
  /** Right-hand caption, e.g. "0 × 429 · 94 % of TPM used". */
  note: string;
}

export interface ChartSpec {
  title: string;
  subtitle: string;
  limit: number;
  /** Real ms per provider minute (x axis is in provider minutes). */
  windowMs: number;
  durationMs: number;
  panels: Panel[];
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const fmt = (n: number) => (n >= 1000 ? `${Math.round(n / 1000)}k` : String(Math.round(n)));

/** A self-contained SVG: one panel per run, tokens in the last minute against the limit, 429s as red ticks. */
export function renderChart(spec: ChartSpec): string {
  const width = 960;
  const left = 70;
  const right = 24;
  const top = 78;
  const panelH = 190;
  const strip = 26;
  const gap = 46;
  const plotW = width - left - right;
  const height = top + spec.panels.length * (panelH + strip + gap) + 10;
  const maxY = Math.max(spec.limit * 1.6, ...spec.panels.flatMap((p) => p.series.map((s) => s.used))) * 1.05;
  const x = (t: number) => left + (Math.min(t, spec.durationMs) / spec.durationMs) * plotW;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${left}" y="32" font-size="20" font-weight="bold" fill="#111">${esc(spec.title)}</text>`,
    `<text x="${left}" y="54" font-size="13" fill="#555">${esc(spec.subtitle)}</text>`,
  );
  spec.panels.forEach((panel, i) => {
    const y0 = top + i * (panelH + strip + gap);
    const y = (v: number) => y0 + panelH - (v / maxY) * panelH;
    out.push(
      `<text x="${left}" y="${y0 - 8}" font-size="15" font-weight="bold" fill="${panel.color}">${esc(panel.label)}</text>`,
    );
    out.push(
      `<text x="${width - right}" y="${y0 - 8}" font-size="13" text-anchor="end" fill="#333">${esc(panel.note)}</text>`,
    );
    out.push(`<rect x="${left}" y="${y0}" width="${plotW}" height="${panelH}" fill="#fafafa" stroke="#ccc"/>`);
    // Gridlines: 0, limit/2, limit, 1.5 × limit.
    for (const f of [0.5, 1, 1.5]) {
      const v = spec.limit * f;
      if (v > maxY) continue;
      out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#e4e4e4"/>`);
      out.push(`<text x="${left - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end" fill="#777">${fmt(v)}</text>`);
    }
    out.push(`<text x="${left - 6}" y="${y(0) + 4}" font-size="11" text-anchor="end" fill="#777">0</text>`);
    // Over-the-limit area shaded.
    out.push(`<rect x="${left}" y="${y0}" width="${plotW}" height="${y(spec.limit) - y0}" fill="#fdf0f0"/>`);
    const minutes = spec.durationMs / spec.windowMs;
    for (let m = 1; m < minutes; m++) {
      const xm = x(m * spec.windowMs);
      out.push(`<line x1="${xm}" x2="${xm}" y1="${y0}" y2="${y0 + panelH}" stroke="#eee"/>`);
    }
    const points = panel.series.map((p) => `${x(p.t).toFixed(1)},${y(p.used).toFixed(1)}`).join(" ");
    const area = `${left},${y(0)} ${points} ${x(panel.series.at(-1)?.t ?? 0).toFixed(1)},${y(0)}`;
    out.push(`<polygon points="${area}" fill="${panel.fill}"/>`);
    out.push(`<polyline points="${points}" fill="none" stroke="${panel.color}" stroke-width="2"/>`);
    out.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(spec.limit)}" y2="${y(spec.limit)}" stroke="#d62728" stroke-width="2" stroke-dasharray="7 5"/>`,
      `<text x="${left + plotW - 6}" y="${y(spec.limit) - 6}" font-size="12" text-anchor="end" fill="#d62728">limit ${spec.limit.toLocaleString("en-US")} tokens/min</text>`,
    );
    // 429 strip.
    const sy = y0 + panelH + 4;
    out.push(`<rect x="${left}" y="${sy}" width="${plotW}" height="${strip - 8}" fill="#fff" stroke="#eee"/>`);
    out.push(`<text x="${left - 6}" y="${sy + 13}" font-size="11" text-anchor="end" fill="#d62728">429s</text>`);
    for (const t of panel.rejects) {
      const xt = x(t).toFixed(1);
      out.push(`<line x1="${xt}" x2="${xt}" y1="${sy + 2}" y2="${sy + strip - 10}" stroke="#e06666"/>`);
    }
    if (panel.rejects.length === 0) {
      out.push(`<text x="${left + 8}" y="${sy + 13}" font-size="11" fill="#2a7">none</text>`);
    }
    // x axis labels, in provider minutes.
    for (let m = 0; m <= Math.floor(minutes); m++) {
      out.push(
        `<text x="${x(m * spec.windowMs)}" y="${sy + strip + 8}" font-size="11" text-anchor="middle" fill="#777">${m} min</text>`,
      );
    }
  });
  spec.panels.forEach((_, i) => {
    const cy = top + i * (panelH + strip + gap) + panelH / 2;
    out.push(
      `<text x="18" y="${cy}" font-size="12" fill="#555" transform="rotate(-90 18 ${cy})" text-anchor="middle">tokens in the last minute</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n");
}
