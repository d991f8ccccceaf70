// The rate-limit ledger of the standalone `issue` (core/ratelimits.ts): one JSON file next to the
// account files, shared by every run on this machine (cron runs included).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseLedger, type Ledger } from '../core/ratelimits.js';
import { IoError, errorMessage } from '../errors.js';
import type { RateLimitLedgerPort } from '../ports.js';

export class FileRateLimitLedger implements RateLimitLedgerPort {
  readonly location: string;
  private readonly file: string;

  constructor(dir: string) {
    this.file = join(dir, 'ratelimits.json');
    this.location = `file ${this.file}`;
  }

  async load(): Promise<Ledger> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return parseLedger(undefined);
      throw new IoError(`cannot read the rate-limit ledger ${this.file}: ${errorMessage(e)}`, 'check the permissions of --account-dir');
    }
    try {
      return parseLedger(JSON.parse(text));
    } catch {
      // A damaged ledger only forgets what was counted; the CA's own limits still hold.
      return parseLedger(undefined);
    }
  }

  async save(ledger: Ledger): Promise<void> {
    try {
      await mkdir(join(this.file, '..'), { recursive: true, mode: 0o700 });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(ledger)}\n`, { mode: 0o600 });
      await rename(tmp, this.file);
    } catch (e) {
      throw new IoError(`cannot save the rate-limit ledger to ${this.file}: ${errorMessage(e)}`, 'check the permissions of --account-dir');
    }
  }
}
