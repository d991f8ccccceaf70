// Challenge answers kept in this process: the standalone `issue` command, and `renew --http-port`.
import type { ChallengeEntry, ChallengeLookup, ChallengeStore } from '../ports.js';

export class MemoryChallengeStore implements ChallengeStore, ChallengeLookup {
  private readonly answers = new Map<string, string>();

  publish(entries: readonly ChallengeEntry[]): Promise<void> {
    for (const e of entries) this.answers.set(e.token, e.keyAuthorization);
    return Promise.resolve();
  }

  remove(tokens: readonly string[]): Promise<void> {
    for (const t of tokens) this.answers.delete(t);
    return Promise.resolve();
  }

  lookup(token: string): string | undefined {
    return this.answers.get(token);
  }

  get size(): number {
    return this.answers.size;
  }
}
