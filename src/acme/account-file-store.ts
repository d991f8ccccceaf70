// The standalone CLI keeps its ACME account in a file, one per CA, like certbot's accounts/ folder.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IoError, errorMessage } from '../errors.js';
import type { AccountStore, StoredAccount } from '../ports.js';

export class FileAccountStore implements AccountStore {
  readonly location: string;
  private readonly file: string;

  constructor(dir: string, directoryUrl: string) {
    // One file per CA: an account registered with staging means nothing to production.
    const host = new URL(directoryUrl).host.replace(/[^a-zA-Z0-9.-]/g, '_');
    const digest = createHash('sha256').update(directoryUrl).digest('hex').slice(0, 12);
    this.file = join(dir, `${host}-${digest}.json`);
    this.location = `file ${this.file}`;
  }

  async load(): Promise<StoredAccount | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new IoError(`cannot read the ACME account from ${this.file}: ${errorMessage(e)}`, 'check the permissions of --account-dir');
    }
    try {
      const parsed = JSON.parse(text) as StoredAccount;
      if (typeof parsed.keyPem !== 'string') throw new Error('no keyPem');
      return parsed;
    } catch (e) {
      throw new IoError(
        `the ACME account file ${this.file} is damaged (${errorMessage(e)})`,
        'move it away to register a new account, or restore it from a backup',
      );
    }
  }

  async save(account: StoredAccount): Promise<void> {
    const dir = join(this.file, '..');
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const tmp = `${this.file}.${process.pid}.tmp`;
      // The account key is a secret: owner-only from the first byte written.
      await writeFile(tmp, `${JSON.stringify(account, null, 2)}\n`, { mode: 0o600 });
      await rename(tmp, this.file);
    } catch (e) {
      throw new IoError(`cannot save the ACME account to ${this.file}: ${errorMessage(e)}`, 'check the permissions of --account-dir');
    }
  }
}
