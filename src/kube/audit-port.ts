// The live audit's cluster port on client-node (see src/audit-live.ts).
import type { SecretObject } from '../core/secret.js';
import type { AuditClusterPort } from '../ports.js';
import { statusCode } from './client.js';
import type { Kube } from './cluster.js';
import type { KubeGatewayApi } from './gateway-api.js';
import { ConfigMapState } from './state-store.js';

/** The audit's cluster port on client-node. */
export function kubeAuditPort(kube: Kube, opts: { selfNamespace?: string; gatewayApi?: KubeGatewayApi } = {}): AuditClusterPort {
  const listNamed = (name: string, namespace: string | undefined) => kube.listSecrets(`metadata.name=${name}`, namespace);
  const port: AuditClusterPort = {
    listIngresses: (namespace) => kube.listIngresses(namespace),
    listTlsSecrets: (namespace) => kube.listTlsSecrets(namespace),
    ...(opts.gatewayApi ? { listGatewayApi: (namespace?: string) => (opts.gatewayApi as KubeGatewayApi).listAll(namespace) } : {}),
    listSecretsNamed: async (name, namespaces) => {
      try {
        return await listNamed(name, undefined);
      } catch (e) {
        if (statusCode(e) !== 403) throw e;
      }
      // Namespace-scoped RBAC: look where the Ingresses are; copies elsewhere stay unknown.
      const out: SecretObject[] = [];
      for (const ns of namespaces) {
        try {
          out.push(...(await listNamed(name, ns)));
        } catch (e) {
          if (statusCode(e) !== 403) throw e;
        }
      }
      return out;
    },
  };
  const selfNamespace = opts.selfNamespace;
  if (selfNamespace !== undefined) {
    const state = new ConfigMapState(kube, selfNamespace);
    port.loadFailures = () => state.readFailures();
  }
  return port;
}
