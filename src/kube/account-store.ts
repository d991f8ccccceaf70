// The ACME account key in a Secret in certkeeper's namespace, one per CA, created once and reused
// by every replica and every one-shot `renew`.
import { createHash } from 'node:crypto';
import type { AccountStore, StoredAccount } from '../ports.js';
import { statusCode } from './client.js';
import type { Kube } from './cluster.js';
import { MANAGED_LABELS } from './challenges.js';

export class SecretAccountStore implements AccountStore {
  readonly location: string;
  private readonly name: string;

  constructor(
    private readonly kube: Kube,
    private readonly namespace: string,
    directoryUrl: string,
  ) {
    this.name = `certkeeper-account-${createHash('sha256').update(directoryUrl).digest('hex').slice(0, 10)}`;
    this.location = `Secret ${namespace}/${this.name}`;
  }

  async load(): Promise<StoredAccount | undefined> {
    const s = await this.kube.getSecret(this.namespace, this.name);
    const raw = s?.data?.['account.json'];
    const key = s?.data?.['key.pem'];
    if (!raw || !key) return undefined;
    const meta = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as Omit<StoredAccount, 'keyPem'>;
    return { ...meta, keyPem: Buffer.from(key, 'base64').toString('utf8') };
  }

  async save(account: StoredAccount): Promise<void> {
    const { keyPem, ...meta } = account;
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { ...MANAGED_LABELS, 'certkeeper.dev/acme-account': 'true' },
        annotations: { 'certkeeper.dev/directory': account.directoryUrl },
      },
      type: 'Opaque',
      data: {
        'account.json': Buffer.from(JSON.stringify(meta)).toString('base64'),
        'key.pem': Buffer.from(keyPem).toString('base64'),
      },
    };
    try {
      await this.kube.createSecret(body);
    } catch (e) {
      if (statusCode(e) !== 409) throw e;
      const current = await this.kube.getSecret(this.namespace, this.name);
      await this.kube.replaceSecret({ ...body, metadata: { ...body.metadata, resourceVersion: current?.metadata.resourceVersion ?? '' } });
    }
  }
}
