// Text layout for the demo: headers, indented command output, long lines wrapped with a hanging
// indent. Tables come laid out by the CLI itself (src/output/layout.ts, COLUMNS set by the demo).

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
