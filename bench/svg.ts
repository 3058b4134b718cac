/**
 * Hand-written SVG bar charts (no dependency): horizontal bars, one block per group, one bar per series, linear or
 * log scale, optional target line. Readable as a static image in a README or on GitHub.
 */

export interface Bar {
  series: string;
  /** null = not measurable; `text` says why. */
  value: number | null;
  /** Label printed after the bar (defaults to the formatted value). */
  text?: string;
}

export interface BarGroup {
  label: string;
  bars: Bar[];
}

export interface BarChart {
  title: string;
  subtitle?: string;
  /** Axis unit, e.g. "acquires/s". */
  unit: string;
  log?: boolean;
  groups: BarGroup[];
  /** A vertical line, e.g. a target. */
  reference?: { value: number; label: string };
  format?: (value: number) => string;
}

const PALETTE = ["#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04"];
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function trim(text: string): string {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

function defaultFormat(v: number): string {
  if (v >= 1e6) return `${trim((v / 1e6).toFixed(1))}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return trim(v.toFixed(1));
  return trim(v.toFixed(2));
}

function tickFormat(v: number): string {
  if (v >= 1e6) return `${trim((v / 1e6).toFixed(1))}M`;
  if (v >= 1e3) return `${trim((v / 1e3).toFixed(1))}k`;
  return trim(v.toFixed(v >= 1 ? 0 : 2));
}

export function barChart(chart: BarChart): string {
  const format = chart.format ?? defaultFormat;
  const series = [...new Set(chart.groups.flatMap((g) => g.bars.map((b) => b.series)))];
  const color = (s: string) => PALETTE[series.indexOf(s) % PALETTE.length]!;
  const values = chart.groups
    .flatMap((g) => g.bars.map((b) => b.value))
    .filter((v): v is number => v !== null && v > 0);
  if (chart.reference) values.push(chart.reference.value);

  const width = 900;
  const labelW = 240;
  const plotW = 470;
  const x0 = labelW + 10;
  const barH = 18;
  const barGap = 4;
  const groupGap = 14;
  const legend = series.length > 1;
  // Room above the plot for the title, subtitle, legend and the reference line's label.
  const top = 20 + 26 + (chart.subtitle ? 20 : 0) + (legend ? 26 : 0) + (chart.reference ? 14 : 0);

  let lo = 0;
  let hi = Math.max(...values, 1);
  if (chart.log) {
    lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
    hi = 10 ** Math.ceil(Math.log10(hi));
    if (hi <= lo) hi = lo * 10;
  } else {
    const step = niceStep(hi / 5);
    hi = Math.ceil(hi / step) * step;
  }
  const scale = (v: number) => {
    if (chart.log) return ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotW;
    return (v / hi) * plotW;
  };

  const out: string[] = [];
  let y = top;
  for (const group of chart.groups) {
    const blockH = group.bars.length * (barH + barGap) - barGap;
    out.push(
      `<text x="${labelW}" y="${y + blockH / 2 + 5}" text-anchor="end" font-size="13" fill="#111">${esc(group.label)}</text>`,
    );
    for (const bar of group.bars) {
      if (bar.value === null) {
        out.push(
          `<text x="${x0 + 4}" y="${y + barH - 5}" font-size="12" font-style="italic" fill="#6b7280">${esc(bar.text ?? "n/a")}</text>`,
        );
      } else {
        const w = Math.max(1, scale(bar.value));
        out.push(
          `<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${barH}" rx="2" fill="${color(bar.series)}"><title>${esc(`${bar.series}: ${format(bar.value)}`)}</title></rect>`,
          `<text x="${(x0 + w + 6).toFixed(1)}" y="${y + barH - 5}" font-size="12" fill="#111">${esc(bar.text ?? format(bar.value))}</text>`,
        );
      }
      y += barH + barGap;
    }
    y += groupGap - barGap;
  }
  const plotBottom = y;

  const grid: string[] = [];
  const ticks: number[] = [];
  if (chart.log) {
    for (let v = lo; v <= hi * 1.0001; v *= 10) ticks.push(v);
  } else {
    const step = niceStep(hi / 5);
    for (let v = 0; v <= hi + step / 2; v += step) ticks.push(v);
  }
  for (const t of ticks) {
    const x = x0 + scale(t);
    grid.push(
      `<line x1="${x.toFixed(1)}" y1="${top - 6}" x2="${x.toFixed(1)}" y2="${plotBottom}" stroke="#e5e7eb"/>`,
      `<text x="${x.toFixed(1)}" y="${plotBottom + 16}" text-anchor="middle" font-size="11" fill="#4b5563">${esc(tickFormat(t))}</text>`,
    );
  }
  if (chart.reference) {
    const x = x0 + scale(chart.reference.value);
    grid.push(
      `<line x1="${x.toFixed(1)}" y1="${top - 10}" x2="${x.toFixed(1)}" y2="${plotBottom}" stroke="#dc2626" stroke-width="1.5" stroke-dasharray="5,3"/>`,
      `<text x="${x.toFixed(1)}" y="${top - 13}" text-anchor="middle" font-size="11" fill="#dc2626">${esc(chart.reference.label)}</text>`,
    );
  }

  const head: string[] = [
    `<text x="20" y="30" font-size="17" font-weight="bold" fill="#111">${esc(chart.title)}</text>`,
  ];
  if (chart.subtitle) {
    head.push(`<text x="20" y="50" font-size="12" fill="#4b5563">${esc(chart.subtitle)}</text>`);
  }
  if (legend) {
    let lx = x0;
    const ly = 20 + 26 + (chart.subtitle ? 20 : 0);
    for (const s of series) {
      head.push(
        `<rect x="${lx}" y="${ly - 10}" width="12" height="12" rx="2" fill="${color(s)}"/>`,
        `<text x="${lx + 17}" y="${ly}" font-size="12" fill="#111">${esc(s)}</text>`,
      );
      lx += 30 + s.length * 7;
    }
  }
  const height = plotBottom + 40;
  const axis = `<text x="${x0 + plotW / 2}" y="${plotBottom + 33}" text-anchor="middle" font-size="12" fill="#4b5563">${esc(`${chart.unit}${chart.log ? " (log scale)" : ""}`)}</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...head,
    ...grid,
    ...out,
    axis,
    "</svg>",
    "",
  ].join("\n");
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}
