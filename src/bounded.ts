// Many independent async jobs, at most `limit` at a time, results in input order: orders in a
// pass, TLS handshakes in a probe. Bounded because a CA, an API server and a controller all have
// limits of their own.
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  };
  const n = Math.max(1, Math.min(Math.floor(limit) || 1, items.length));
  await Promise.all(Array.from({ length: n }, () => worker()));
  return results;
}
