// Text layout for the demo: headers, indented command output, long lines wrapped with a hanging
// indent, and the CLI's tables re-laid out to fit an 80–100 column terminal.

/** The width the demo lays its output out for: the terminal's, between 80 and 100 columns. */
export function outputWidth(): number {
  const cols = process.stdout.isTTY ? process.stdout.columns : undefined;
  return Math.max(80, Math.min(100, cols ?? 100));
}

/**
 * Greedy word wrap of one line; continuation lines get the line's own indent plus `hang`. The
 * spacing inside the line (aligned columns) is kept.
 */
export function wrapLine(line: string, width: number, hang = 2): string[] {
  if (line.length <= width) return [line];
  const indent = /^\s*/.exec(line)?.[0] ?? '';
  // "hint: …" lines read best with the continuation under the text.
  const extra = /^\s*hint: /.test(line) ? 6 : hang;
  const cont = `${indent}${' '.repeat(extra)}`;
  const tokens = line.slice(indent.length).match(/\S+\s*/g) ?? [];
  const out: string[] = [];
  let cur = indent;
  let fresh = true;
  for (const t of tokens) {
    if (!fresh && (cur + t).trimEnd().length > width) {
      out.push(cur.trimEnd());
      cur = cont + t;
    } else {
      cur += t;
    }
    fresh = false;
  }
  out.push(cur.trimEnd());
  return out;
}

export function wrapText(text: string, width: number, hang = 2): string[] {
  return text.split('\n').flatMap((l) => wrapLine(l.replace(/\s+$/, ''), width, hang));
}

/** Splits a cell into the pieces it may be broken into: after commas, and at spaces. */
function pieces(cell: string): string[] {
  return cell.split(/(?<=,)|(?<= )/).filter((p) => p.length > 0);
}

/** Breaks `cell` into lines of at most `width` characters where it can (never inside a piece). */
function wrapCell(cell: string, width: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const p of pieces(cell)) {
    if (cur && (cur + p).trimEnd().length > width) {
      out.push(cur.trimEnd());
      cur = p;
    } else cur += p;
  }
  if (cur || out.length === 0) out.push(cur.trimEnd());
  return out;
}

const cellWidth = (cell: string, width: number) => Math.max(...wrapCell(cell, width).map((l) => l.length));

/**
 * Parses a cli-table3 table printed without borders (header and rows, cells left-aligned and
 * padded, columns two or more spaces apart) using the header's column offsets.
 */
export function parseTable(lines: readonly string[]): { head: string[]; rows: string[][] } {
  const header = lines[0] ?? '';
  const starts: number[] = [];
  for (const m of header.matchAll(/\S+(?: \S+)*/g)) starts.push(m.index);
  const cut = (line: string) => starts.map((s, i) => line.slice(s, starts[i + 1] ?? line.length).trim());
  return { head: cut(header), rows: lines.slice(1).map(cut) };
}

/**
 * Lays a table out again within `width` columns (two spaces between columns): cells wrap after
 * commas and at spaces, widest column first; when that is not enough, the `droppable` columns are
 * left out in order. Returns the lines and the names of the columns left out.
 */
export function fitTable(table: { head: string[]; rows: string[][] }, width: number, droppable: readonly string[] = []): { lines: string[]; dropped: string[] } {
  let cols = table.head.map((_, i) => i);
  const dropped: string[] = [];
  const all = [table.head, ...table.rows];
  for (;;) {
    const natural = cols.map((c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
    const minimal = cols.map((c) => Math.max(...all.flatMap((r) => pieces(r[c] ?? '').map((p) => p.trimEnd().length))));
    const widths = [...natural];
    const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
    // Narrow the widest column that can still be narrowed, one step at a time.
    while (total() > width) {
      let best = -1;
      for (let i = 0; i < widths.length; i++) {
        if ((widths[i] ?? 0) > (minimal[i] ?? 0) && (best < 0 || (widths[i] ?? 0) > (widths[best] ?? 0))) best = i;
      }
      if (best < 0) break;
      const c = cols[best] ?? 0;
      const target = (widths[best] ?? 0) - 1;
      widths[best] = Math.max(...all.map((r) => cellWidth(r[c] ?? '', target)));
      if ((widths[best] ?? 0) > target) widths[best] = minimal[best] ?? 0;
    }
    const next = droppable.find((d) => !dropped.includes(d) && cols.some((c) => table.head[c] === d));
    if (total() > width && next !== undefined) {
      dropped.push(next);
      cols = cols.filter((c) => table.head[c] !== next);
      continue;
    }
    const lines: string[] = [];
    for (const r of all) {
      const cells = cols.map((c, i) => wrapCell(r[c] ?? '', widths[i] ?? 0));
      const height = Math.max(...cells.map((c) => c.length));
      for (let k = 0; k < height; k++) {
        lines.push(cells.map((c, i) => (c[k] ?? '').padEnd(widths[i] ?? 0)).join('  ').trimEnd());
      }
    }
    return { lines, dropped };
  }
}
