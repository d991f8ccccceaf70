// Issued certificates waiting to be written: one Secret per Target in certkeeper's own namespace,
// written right after the CA issues and deleted once the Target's Secret holds the certificate.
// A write refused by RBAC, an admission webhook or a quota, or a process killed between finalize
// and write, then costs a retry of the write, never a new order. The Secret holds the private key,
// like the Target's own Secret will; its type keeps it out of every kubernetes.io/tls list.
import { createHash } from 'node:crypto';
import type { CertificateStashPort, StashedCertificate } from '../ports.js';
import { statusCode } from './client.js';
import type { Kube } from './cluster.js';
import { MANAGED_LABELS } from './challenges.js';

export const STASH_LABEL = 'certkeeper.dev/issued-certificate';
export const STASH_TYPE = 'certkeeper.dev/issued-certificate';
const TARGET_ANNOTATION = 'certkeeper.dev/target';
const HOSTS_ANNOTATION = 'certkeeper.dev/hosts';
const ISSUER_ANNOTATION = 'certkeeper.dev/issuer';
const KEPT_ANNOTATION = 'certkeeper.dev/kept-at';

/** One name per Target (namespace and Secret names together exceed a Secret name's 253 characters). */
export function stashName(target: { namespace: string; secretName: string }): string {
  return `certkeeper-issued-${createHash('sha256').update(`${target.namespace}/${target.secretName}`).digest('hex').slice(0, 16)}`;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');

export class SecretCertificateStash implements CertificateStashPort {
  constructor(
    private readonly kube: Kube,
    private readonly namespace: string,
  ) {}

  async list(): Promise<Map<string, StashedCertificate>> {
    const out = new Map<string, StashedCertificate>();
    for (const s of await this.kube.listSecretsLabelled(this.namespace, `${STASH_LABEL}=true`)) {
      const a = s.metadata.annotations ?? {};
      const [namespace, secretName] = (a[TARGET_ANNOTATION] ?? '').split('/');
      if (!namespace || !secretName || s.type !== STASH_TYPE) continue;
      const kept = Date.parse(a[KEPT_ANNOTATION] ?? '');
      out.set(`${namespace}/${secretName}`, {
        namespace,
        secretName,
        hosts: (a[HOSTS_ANNOTATION] ?? '').split(',').filter(Boolean),
        fullchainPem: unb64(s.data?.['tls.crt']),
        keyPem: unb64(s.data?.['tls.key']),
        issuerUrl: a[ISSUER_ANNOTATION] ?? '',
        keptAt: new Date(Number.isNaN(kept) ? 0 : kept),
      });
    }
    return out;
  }

  async save(cert: StashedCertificate): Promise<string> {
    const name = stashName(cert);
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name,
        namespace: this.namespace,
        labels: { ...MANAGED_LABELS, [STASH_LABEL]: 'true' },
        annotations: {
          [TARGET_ANNOTATION]: `${cert.namespace}/${cert.secretName}`,
          [HOSTS_ANNOTATION]: cert.hosts.join(','),
          [ISSUER_ANNOTATION]: cert.issuerUrl,
          [KEPT_ANNOTATION]: cert.keptAt.toISOString(),
        },
      },
      type: STASH_TYPE,
      data: { 'tls.crt': b64(cert.fullchainPem), 'tls.key': b64(cert.keyPem) },
    };
    try {
      await this.kube.createSecret(body);
    } catch (e) {
      // An older certificate of the same Target is still kept (it could not be used): replace it.
      if (statusCode(e) !== 409) throw e;
      const current = await this.kube.getSecret(this.namespace, name);
      await this.kube.replaceSecret({ ...body, metadata: { ...body.metadata, resourceVersion: current?.metadata.resourceVersion ?? '' } });
    }
    return `Secret ${this.namespace}/${name}`;
  }

  async remove(target: { namespace: string; secretName: string }): Promise<void> {
    try {
      await this.kube.deleteSecret(this.namespace, stashName(target));
    } catch (e) {
      if (statusCode(e) !== 404) throw e;
    }
  }
}
