// The list reduction of src/kube/lists.ts: a pass keeps only part of each Ingress and Secret the API
// returns. Whatever it drops must change nothing a user sees: the same Targets, findings, decisions
// and audit findings, and the same Secret when certkeeper rewrites one. Objects as a real API server
// returns them (managedFields, kubectl's last-applied copy, status, owner references, timestamps).
import { describe, expect, it } from 'vitest';
import { auditSecret } from '../../src/core/checks.js';
import { decide } from '../../src/core/policy.js';
import { buildTlsSecret, viewSecret, type SecretObject } from '../../src/core/secret.js';
import { planTargets, type Target } from '../../src/core/targets.js';
import { reduceIngress, reduceSecret } from '../../src/kube/lists.js';
import { createCA, generateTestKey, tlsSecret } from '../support/certs.js';

type Obj = Record<string, unknown>;

const NOW = new Date();
const managedFields = [
  { manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'networking.k8s.io/v1', time: '2026-11-01T10:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:tls': {} } } },
];

/** An Ingress as `kubectl get -o json` shows one applied with kubectl and served by a controller (list items carry no kind). */
function apiIngress(name: string, extra: { annotations?: Record<string, string>; spec?: Obj; status?: Obj } = {}): Obj {
  const obj: Obj = {
    metadata: {
      name,
      namespace: 'shop',
      uid: `uid-${name}`,
      resourceVersion: '4711',
      generation: 3,
      creationTimestamp: '2026-11-01T10:00:00Z',
      labels: { app: name },
      annotations: { 'kubernetes.io/tls-acme': 'true', ...extra.annotations },
      managedFields,
      ownerReferences: [{ apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', name: 'shop', uid: 'a1' }],
    },
    spec: extra.spec ?? {
      ingressClassName: 'nginx',
      tls: [{ hosts: [`${name}.example.com`], secretName: `${name}-tls` }],
      rules: [{ host: `${name}.example.com`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name, port: { number: 80 } } } }] } }],
    },
    status: extra.status ?? { loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } },
  };
  const meta = obj.metadata as { annotations: Record<string, string> };
  meta.annotations['kubectl.kubernetes.io/last-applied-configuration'] = JSON.stringify({ ...obj, metadata: { name, namespace: 'shop' } });
  return obj;
}

/** The list's items with the kind the API leaves out put back, as the adapter did before reducing. */
const asListed = (o: Obj): Obj => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', ...o });

describe('reduceIngress', () => {
  const ingresses = [
    apiIngress('web'),
    apiIngress('typo', { annotations: { 'certkeeper.dev/key-typ': 'rsa-2048', 'certkeepr.dev/renew-before': '20d' } }),
    apiIngress('settings', { annotations: { 'certkeeper.dev/key-type': 'rsa-2048', 'certkeeper.dev/renew-before': '720h', 'kubernetes.io/ingress.class': 'traefik' } }),
    apiIngress('broken', {
      spec: {
        tls: [{ hosts: ['broken.example.com', 'other.example.com'], secretName: 'broken-tls' }, { hosts: ['x.example.com'] }],
        rules: [{ host: 'broken.example.com' }, { http: { paths: [{ path: '/', backend: { serviceName: 'old', servicePort: 80 } }] } }],
        defaultBackend: { service: { name: 'fallback', port: { name: 'http' } } },
      },
      status: {},
    }),
    apiIngress('shared-a', { spec: { tls: [{ hosts: ['a.example.com'], secretName: 'shared-tls' }], rules: [{ host: 'a.example.com', http: { paths: [] } }] } }),
    apiIngress('shared-b', { annotations: { 'certkeeper.dev/key-type': 'ecdsa-p384' }, spec: { tls: [{ hosts: ['b.example.com'], secretName: 'shared-tls' }], rules: [{ host: 'b.example.com' }] } }),
  ];

  it('plans the same Targets with the same findings and settings, managed or not', () => {
    for (const opts of [{}, { includeUnmanaged: true }, { allIngresses: true }, { namespace: 'shop', ingressClass: 'nginx' }]) {
      expect(planTargets(ingresses.map(reduceIngress), opts)).toEqual(planTargets(ingresses.map(asListed), opts));
    }
  });

  it('keeps what the probe reads (status.loadBalancer) and drops what nothing reads', () => {
    const r = reduceIngress(apiIngress('web')) as { metadata: Obj; status: Obj };
    expect(r.status).toEqual({ loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } });
    expect(Object.keys(r.metadata).sort()).toEqual(['annotations', 'labels', 'name', 'namespace', 'resourceVersion', 'uid']);
    expect(r.metadata.annotations).toEqual({ 'kubernetes.io/tls-acme': 'true' });
    expect(JSON.stringify(r).length).toBeLessThan(JSON.stringify(apiIngress('web')).length / 2);
  });
});

describe('reduceSecret', () => {
  const ca = createCA({ key: 'ecdsa-p256' });
  const hosts = ['web.example.com'];
  const cert = ca.intermediate({ key: 'ecdsa-p256' }).issue({ sans: hosts, key: generateTestKey('ecdsa-p256') });
  const target: Target = { namespace: 'shop', secretName: 'web-tls', hosts, ingresses: [{ namespace: 'shop', name: 'web' }], settings: { keyType: 'ecdsa-p256' } };
  const asApi = (s: Obj): Obj => {
    const meta = s.metadata as Obj;
    return {
      ...s,
      metadata: { ...meta, uid: 'u1', resourceVersion: '99', creationTimestamp: '2026-11-01T10:00:00Z', managedFields, ownerReferences: [{ kind: 'Certificate', name: 'x', uid: 'c1', apiVersion: 'v1' }] },
    };
  };
  const secrets: [string, Obj][] = [
    ['written by certkeeper', asApi(buildTlsSecret('shop', 'web-tls', { fullchainPem: cert.chain, keyPem: cert.key, hosts, notAfter: cert.notAfter, renewAt: NOW, issuerUrl: 'https://ca.example/dir' }) as unknown as Obj)],
    ['someone else\'s, with ca.crt', asApi({ ...tlsSecret({ name: 'web-tls', namespace: 'shop', cert, annotations: { note: 'manual' } }), data: { ...(tlsSecret({ name: 'web-tls', cert }).data as Obj), 'ca.crt': Buffer.from(cert.chain).toString('base64') } })],
    ['key mismatch', asApi(tlsSecret({ name: 'web-tls', namespace: 'shop', cert, key: generateTestKey('ecdsa-p256').pem, managed: true }))],
    ['Opaque', asApi(tlsSecret({ name: 'web-tls', namespace: 'shop', cert, type: 'Opaque', managed: true }))],
  ];

  it.each(secrets)('%s: the same view, decision and audit', (_, raw) => {
    const reduced = reduceSecret(raw);
    expect(viewSecret(reduced)).toEqual(viewSecret(raw));
    const input = { target, now: NOW, issuerUrl: 'https://ca.example/dir' };
    expect(decide({ ...input, secret: reduced })).toEqual(decide({ ...input, secret: raw as unknown as SecretObject }));
    expect(auditSecret(target, reduced, { now: NOW })).toEqual(auditSecret(target, raw, { now: NOW }));
  });

  it.each(secrets)('%s: a rewrite sends the same Secret', (_, raw) => {
    const next = { fullchainPem: cert.chain, keyPem: cert.key, hosts, notAfter: cert.notAfter, renewAt: NOW, issuerUrl: 'https://ca.example/dir' };
    expect(buildTlsSecret('shop', 'web-tls', next, reduceSecret(raw))).toEqual(buildTlsSecret('shop', 'web-tls', next, raw as unknown as SecretObject));
  });
});
