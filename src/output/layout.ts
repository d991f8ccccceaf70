// Text for a terminal: the width to lay out for, long lines wrapped with a hanging indent, and
// tables whose cells wrap rather than run off the edge or lose a column. Pure: the width comes in.

/** Help text never gets wider than this, however wide the terminal: long lines are hard to read. */
export const MAX_HELP_WIDTH = 100;

/**
 * The width to lay text out for: the terminal's when stdout is one, else $COLUMNS when set (the
 * shell's convention, and how a wrapper asks for a width), else 80.
 */
export function outputWidth(columns: number | undefined, env: NodeJS.ProcessEnv = {}): number {
  const fromEnv = Number(env.COLUMNS);
  const w = columns ?? (Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 80);
  // Below 40 nothing lays out sensibly; text then wraps as if the terminal were 40 wide.
  return Math.max(40, w);
}

/**
 * Greedy word wrap of one line; continuation lines get the line's own indent plus `hang` (under
 * the text after "hint: " for hint lines). The spacing inside the line is kept. A word longer
 * than the width stays whole on its own line: breaking a URL or a host name helps nobody copy it.
 */
export function wrapLine(line: string, width: number, hang = 2): string[] {
  if (line.length <= width) return [line];
  const indent = /^\s*/.exec(line)?.[0] ?? '';
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

export function wrapText(text: string, width: number, hang = 2): string {
  return text
    .split('\n')
    .flatMap((l) => wrapLine(l.replace(/\s+$/, ''), width, hang))
    .join('\n');
}

/**
 * Wraps help text that commander does not (the examples and tables added after the options): a
 * line's continuation goes under its last column (the text after the last run of 2+ spaces).
 */
export function wrapHelp(text: string, width: number): string {
  return text
    .split('\n')
    .flatMap((l) => {
      if (l.length <= width) return [l];
      const indent = (/^\s*/.exec(l)?.[0] ?? '').length;
      const lastColumn = /^(.*\S {2,})\S/.exec(l)?.[1]?.length;
      const hang = lastColumn !== undefined && lastColumn < width / 2 ? lastColumn - indent : 2;
      return wrapLine(l, width, hang);
    })
    .join('\n');
}

/**
 * The pieces a cell may be broken into: after commas and at spaces; when that is not enough
 * (`fine`), also after dots, slashes and the hyphens of names, so host names break between labels.
 * Dates and times never break ("2031-12-" over "01" misleads).
 */
function pieces(cell: string, fine = false): string[] {
  return cell.split(fine ? /(?<=[,. /])|(?<=[a-z]-)(?=[a-z])/i : /(?<=,)|(?<= )/).filter((p) => p.length > 0);
}

/**
 * Breaks a cell into lines of at most `width` where it can; a longer piece is cut, never dropped.
 * `cuts` counts the breaks inside a name or a date (not after a comma or at a space).
 */
function wrapCellCounted(cell: string, width: number): { lines: string[]; cuts: number } {
  const whole = pieces(cell);
  const fine = !whole.every((p) => p.trimEnd().length <= width);
  const parts = fine ? pieces(cell, true) : whole;
  const lines: string[] = [];
  let cuts = 0;
  let cur = '';
  const flush = () => {
    if (!/[, ]$/.test(cur)) cuts++;
    lines.push(cur.trimEnd());
    cur = '';
  };
  for (let p of parts) {
    // Broken inside names, a list reads best one name (after its comma) per line.
    if (cur && ((cur + p).trimEnd().length > width || (fine && cur.endsWith(',')))) flush();
    while (p.trimEnd().length > width) {
      lines.push(p.slice(0, width));
      cuts++;
      p = p.slice(width);
    }
    cur += p;
  }
  if (cur || lines.length === 0) lines.push(cur.trimEnd());
  return { lines, cuts };
}

function wrapCell(cell: string, width: number): string[] {
  return wrapCellCounted(cell, width).lines;
}

/**
 * A borderless table (two spaces between columns) within `width`: every column is kept. When the
 * natural widths do not fit, columns are narrowed one step at a time, each step where it adds the
 * fewest lines: cells wrap after commas and at spaces first, then between the labels of names
 * (after dots and hyphens). A word is never cut: a table that still does not fit runs past
 * `width`, as kubectl's do, rather than print "exampl" over "e.com".
 */
export function formatTable(head: readonly string[], rows: readonly (readonly string[])[], width: number): string[] {
  const all = [head, ...rows];
  const n = head.length;
  const col = (i: number) => all.map((r) => r[i] ?? '');
  const widths = Array.from({ length: n }, (_, i) => Math.max(...col(i).map((c) => c.length)));
  const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (n - 1);
  // Lines added, and (less) every further cell that breaks: a name broken in two reads worse than
  // one more line in a cell that already wraps.
  const height = (w: readonly number[]) =>
    all.reduce((sum, r) => {
      const wrapped = r.map((c, i) => wrapCellCounted(c, w[i] as number));
      const lines = wrapped.map((c) => c.lines.length);
      // A break inside a name or a date costs more than a line: "2031-12-" over "01" misleads.
      const cuts = wrapped.reduce((a, c) => a + c.cuts, 0);
      return sum + Math.max(...lines) + 0.5 * lines.filter((l) => l > 1).length + 0.25 * lines.reduce((a, b) => a + b, 0) + 3 * cuts;
    }, 0);
  // A header word never breaks; in the first rounds no piece of a cell does either.
  const headerFloor = Array.from({ length: n }, (_, i) => Math.max(...(head[i] ?? '').split(' ').map((w) => w.length), 4));
  const floorOf = (fine: boolean) =>
    Array.from({ length: n }, (_, i) => Math.max(headerFloor[i] as number, ...col(i).flatMap((c) => pieces(c, fine).map((p) => p.trimEnd().length))));
  for (const floor of [floorOf(false), floorOf(true)]) {
    while (total() > width) {
      let best = -1;
      let bestCost = Infinity;
      for (let i = 0; i < n; i++) {
        if ((widths[i] as number) <= (floor[i] as number)) continue;
        const trial = [...widths];
        trial[i] = (widths[i] as number) - 1;
        const cost = height(trial);
        if (cost < bestCost || (cost === bestCost && (widths[i] as number) > (widths[best] as number))) {
          best = i;
          bestCost = cost;
        }
      }
      if (best < 0) break;
      widths[best] = (widths[best] as number) - 1;
    }
  }
  // Give back what the wrapping left unused in a column.
  for (let i = 0; i < n; i++) widths[i] = Math.max(headerFloor[i] as number, ...col(i).flatMap((c) => wrapCell(c, widths[i] as number).map((l) => l.length)));
  const lines: string[] = [];
  for (const r of all) {
    const cells = Array.from({ length: n }, (_, i) => wrapCell(r[i] ?? '', widths[i] as number));
    const h = Math.max(...cells.map((c) => c.length));
    for (let k = 0; k < h; k++) lines.push(cells.map((c, i) => (c[k] ?? '').padEnd(widths[i] as number)).join('  ').trimEnd());
  }
  return lines;
}
