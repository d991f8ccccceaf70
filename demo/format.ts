// Text layout for the demo: the width to lay out for, and its own lines wrapped as the CLI wraps
// them (src/output/layout.ts). Tables come laid out by the CLI itself (COLUMNS set by the demo).
import { wrapLine } from '../src/output/layout.js';

export { wrapLine };

/** The width the demo lays its output out for: the terminal's, between 80 and 100 columns. */
export function outputWidth(): number {
  const cols = process.stdout.isTTY ? process.stdout.columns : undefined;
  return Math.max(80, Math.min(100, cols ?? 100));
}

export function wrapText(text: string, width: number, hang = 2): string[] {
  return text.split('\n').flatMap((l) => wrapLine(l.replace(/\s+$/, ''), width, hang));
}
