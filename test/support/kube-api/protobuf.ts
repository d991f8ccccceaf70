// Just enough of the Kubernetes protobuf encoding to accept what helm sends.
//
// client-go's typed clientsets write request bodies as application/vnd.kubernetes.protobuf, and
// helm keeps its release records in Secrets through one, so `helm install` POSTs a protobuf
// Secret and `helm uninstall` DELETEs with protobuf DeleteOptions. We decode those kinds,
// ConfigMap (the other helm storage driver) and the reviews of `kubectl auth` into JSON; any other protobuf body is answered 415
// like a server that does not speak protobuf. Responses are always JSON, which clients accept.
//
// Wire format: "k8s\0" + runtime.Unknown{typeMeta=1{apiVersion=1, kind=2}, raw=2, …}, where raw
// is the object's own message (field numbers from k8s.io/api generated.proto).

type Fields = Map<number, (bigint | Buffer)[]>;

function readVarint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const byte = buf[pos++];
    if (byte === undefined) throw new Error('truncated varint');
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

/** Splits a message into its fields: varints as bigint, length-delimited as Buffer. */
function fields(buf: Buffer): Fields {
  const out: Fields = new Map();
  let pos = 0;
  while (pos < buf.length) {
    const [tag, p] = readVarint(buf, pos);
    pos = p;
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    let value: bigint | Buffer;
    if (wire === 0) {
      [value, pos] = readVarint(buf, pos);
    } else if (wire === 2) {
      const [len, q] = readVarint(buf, pos);
      value = buf.subarray(q, q + Number(len));
      pos = q + Number(len);
    } else if (wire === 1) {
      value = buf.subarray(pos, pos + 8);
      pos += 8;
    } else if (wire === 5) {
      value = buf.subarray(pos, pos + 4);
      pos += 4;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

const bytes = (f: Fields, n: number): Buffer | undefined => {
  const v = f.get(n)?.at(-1);
  return Buffer.isBuffer(v) ? v : undefined;
};
const str = (f: Fields, n: number): string | undefined => bytes(f, n)?.toString('utf8');
const int = (f: Fields, n: number): number | undefined => {
  const v = f.get(n)?.at(-1);
  return typeof v === 'bigint' ? Number(BigInt.asIntN(64, v)) : undefined;
};
const strings = (f: Fields, n: number): string[] => (f.get(n) ?? []).filter(Buffer.isBuffer).map((b) => b.toString('utf8'));

function map<T>(f: Fields, n: number, value: (b: Buffer) => T): Record<string, T> | undefined {
  const entries = (f.get(n) ?? []).filter(Buffer.isBuffer);
  if (!entries.length) return undefined;
  const out: Record<string, T> = {};
  for (const e of entries) {
    const ef = fields(e);
    out[str(ef, 1) ?? ''] = value(bytes(ef, 2) ?? Buffer.alloc(0));
  }
  return out;
}

function time(b: Buffer | undefined): string | undefined {
  if (!b) return undefined;
  const seconds = int(fields(b), 1) ?? 0;
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function compact<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

function objectMeta(b: Buffer | undefined): Record<string, unknown> {
  if (!b) return {};
  const f = fields(b);
  const finalizers = strings(f, 14);
  const owners = (f.get(13) ?? []).filter(Buffer.isBuffer).map((o) => {
    const of = fields(o);
    return compact({
      apiVersion: str(of, 5),
      kind: str(of, 1),
      name: str(of, 3),
      uid: str(of, 4),
      controller: of.has(6) ? int(of, 6) === 1 : undefined,
      blockOwnerDeletion: of.has(7) ? int(of, 7) === 1 : undefined,
    });
  });
  return compact({
    name: str(f, 1),
    generateName: str(f, 2),
    namespace: str(f, 3),
    uid: str(f, 5),
    resourceVersion: str(f, 6),
    generation: int(f, 7),
    creationTimestamp: time(bytes(f, 8)),
    labels: map(f, 11, (v) => v.toString('utf8')),
    annotations: map(f, 12, (v) => v.toString('utf8')),
    ownerReferences: owners.length ? owners : undefined,
    finalizers: finalizers.length ? finalizers : undefined,
  });
}

const DECODERS: Record<string, (f: Fields) => Record<string, unknown>> = {
  'v1/Secret': (f) =>
    compact({
      metadata: objectMeta(bytes(f, 1)),
      data: map(f, 2, (v) => v.toString('base64')),
      type: str(f, 3),
      stringData: map(f, 4, (v) => v.toString('utf8')),
      immutable: f.has(5) ? int(f, 5) === 1 : undefined,
    }),
  'v1/ConfigMap': (f) =>
    compact({
      metadata: objectMeta(bytes(f, 1)),
      data: map(f, 2, (v) => v.toString('utf8')),
      binaryData: map(f, 3, (v) => v.toString('base64')),
      immutable: f.has(4) ? int(f, 4) === 1 : undefined,
    }),
  // kubectl auth can-i / whoami go through typed clients too.
  'authorization.k8s.io/v1/SelfSubjectAccessReview': (f) => {
    const spec = bytes(f, 2);
    const attrs = spec ? bytes(fields(spec), 1) : undefined;
    const af = attrs ? fields(attrs) : undefined;
    return {
      metadata: objectMeta(bytes(f, 1)),
      spec: af
        ? {
            resourceAttributes: compact({
              namespace: str(af, 1),
              verb: str(af, 2),
              group: str(af, 3),
              version: str(af, 4),
              resource: str(af, 5),
              subresource: str(af, 6),
              name: str(af, 7),
            }),
          }
        : {},
    };
  },
  'authentication.k8s.io/v1/SelfSubjectReview': (f) => ({ metadata: objectMeta(bytes(f, 1)) }),
  'v1/DeleteOptions': (f) => {
    const pre = bytes(f, 2);
    const pf = pre ? fields(pre) : undefined;
    const dryRun = strings(f, 5);
    return compact({
      gracePeriodSeconds: int(f, 1),
      preconditions: pf ? compact({ uid: str(pf, 1), resourceVersion: str(pf, 2) }) : undefined,
      propagationPolicy: str(f, 4),
      dryRun: dryRun.length ? dryRun : undefined,
    });
  },
};

const MAGIC = Buffer.from('k8s\0', 'latin1');

/** The JSON form of a protobuf body, or undefined when it is not a kind we decode. */
export function decodeProtobuf(body: Buffer): Record<string, unknown> | undefined {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) return undefined;
  const unknown = fields(body.subarray(4));
  const typeMeta = bytes(unknown, 1);
  const tm = typeMeta ? fields(typeMeta) : new Map();
  const apiVersion = str(tm, 1) ?? '';
  const kind = str(tm, 2) ?? '';
  // DeleteOptions arrive as meta.k8s.io/v1 or, from older clients, as v1 of the resource's group.
  const key = kind === 'DeleteOptions' ? 'v1/DeleteOptions' : `${apiVersion}/${kind}`;
  const decode = DECODERS[key];
  const raw = bytes(unknown, 2);
  if (!decode || !raw) return undefined;
  return { apiVersion, kind, ...decode(fields(raw)) };
}
