// `kubectl certkeeper …`: kubectl runs any `kubectl-certkeeper` on the PATH as a plugin and hands
// it every argument after the plugin name, with the environment (KUBECONFIG) unchanged. certkeeper
// already takes --kubeconfig, --context and -n/--namespace as kubectl does; this maps the few
// spellings it would otherwise refuse, and names itself `kubectl certkeeper` in help and errors.
/** kubectl's spellings → certkeeper's. */
export function kubectlArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of argv) {
    // certkeeper looks at every namespace unless told otherwise: -A is what it does already.
    if (a === '-A' || a === '--all-namespaces' || a === '--all-namespaces=true') continue;
    // pflag accepts -n=shop; commander would read "=shop" as the value.
    if (a.startsWith('-n=')) {
      out.push(`--namespace=${a.slice(3)}`);
      continue;
    }
    out.push(a);
  }
  return out;
}
