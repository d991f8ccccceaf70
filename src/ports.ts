// The ports a pass and the issuer depend on. Adapters (files, Kubernetes, memory) implement them;
// nothing here knows about a library.

/** One pending HTTP-01 answer. Key authorizations are public by design (RFC 8555 §8.3). */
export interface ChallengeEntry {
  token: string;
  keyAuthorization: string;
  host: string;
}

/** Where pending challenge answers are published so that every responder can serve them. */
export interface ChallengeStore {
  publish(entries: readonly ChallengeEntry[]): Promise<void>;
  remove(tokens: readonly string[]): Promise<void>;
}

/** What a responder asks to answer a request. Synchronous: answers come from memory. */
export interface ChallengeLookup {
  lookup(token: string): string | undefined;
}

export interface StoredAccount {
  /** PKCS#8 PEM of the ACME account key. */
  keyPem: string;
  /** The account URL ("kid") the CA returned; absent until registered. */
  url?: string;
  directoryUrl: string;
  email?: string;
  createdAt?: string;
}

/** Where the ACME account key lives: a file for the standalone CLI, a Secret in the cluster. */
export interface AccountStore {
  /** Describes the location for messages ("file /root/.config/…", "Secret certkeeper/…"). */
  readonly location: string;
  load(): Promise<StoredAccount | undefined>;
  save(account: StoredAccount): Promise<void>;
}

/** Time as a parameter: production passes the wall clock, tests pin it. */
export type Clock = () => Date;
export const systemClock: Clock = () => new Date();
