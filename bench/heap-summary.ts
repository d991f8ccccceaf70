// Summarises a V8 heap snapshot (node --heapsnapshot-signal, v8.writeHeapSnapshot) the way Chrome
// DevTools' Summary and Retainers views would, in text for docs/benchmarks.md:
//
//   - by constructor: how many objects and how many bytes of their own (shallow size);
//   - top retainers: the objects whose removal would free the most (retained size, from the
//     dominator tree), with the property through which their owner holds them.
//
// Retained sizes use the dominator tree of the graph of strong edges (weak edges do not keep
// anything alive), computed with the iterative algorithm of Cooper, Harvey and Kennedy ("A Simple,
// Fast Dominance Algorithm", 2001).

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
    node_count: number;
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface ConstructorRow {
  name: string;
  count: number;
  selfBytes: number;
}

export interface RetainerRow {
  /** Constructor (or V8 category) of the object. */
  name: string;
  retainedBytes: number;
  selfBytes: number;
  /** Owner constructor and the edge it holds the object by, e.g. `Map.table` or `Pass.byName`. */
  heldBy: string;
}

export interface HeapSummary {
  totalBytes: number;
  nodes: number;
  byConstructor: ConstructorRow[];
  topRetainers: RetainerRow[];
  /** Strings (most of a pass's data) by the property that holds them, e.g. `Object.tls.crt`. */
  stringsByHolder: { holder: string; count: number; bytes: number }[];
}

export function summariseHeapSnapshot(json: string, top = 15): HeapSummary {
  const s = JSON.parse(json) as Snapshot;
  const { meta } = s.snapshot;
  const NF = meta.node_fields.length;
  const EF = meta.edge_fields.length;
  const nType = meta.node_fields.indexOf('type');
  const nName = meta.node_fields.indexOf('name');
  const nSelf = meta.node_fields.indexOf('self_size');
  const nEdges = meta.node_fields.indexOf('edge_count');
  const eType = meta.edge_fields.indexOf('type');
  const eName = meta.edge_fields.indexOf('name_or_index');
  const eTo = meta.edge_fields.indexOf('to_node');
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const weak = edgeTypes.indexOf('weak');
  const elementLike = new Set([edgeTypes.indexOf('element'), edgeTypes.indexOf('hidden')]);
  const { nodes, edges, strings } = s;
  const count = nodes.length / NF;

  const firstEdge = new Int32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += (nodes[i * NF + nEdges] ?? 0) * EF;
    firstEdge[i + 1] = e;
  }
  const typeOf = (i: number) => nodeTypes[nodes[i * NF + nType] ?? 0] ?? '?';
  const nameOf = (i: number, detailed = false): string => {
    const t = typeOf(i);
    if (t === 'object' || t === 'native') return strings[nodes[i * NF + nName] ?? 0] ?? '?';
    if (t === 'string' || t === 'concatenated string' || t === 'sliced string') return '(string)';
    if (t === 'closure') return '(closure)';
    if (t === 'code' && detailed) {
      // Scripts are named by their URL: keep the file name, so that a held source says whose it is.
      const raw = strings[nodes[i * NF + nName] ?? 0] ?? '';
      const file = /[^/]+\.(?:m?js|cjs|json)$/.exec(raw)?.[0];
      return file ? `(code ${file})` : '(code)';
    }
    return `(${t})`;
  };
  const selfOf = (i: number) => nodes[i * NF + nSelf] ?? 0;

  // Shallow sizes by constructor.
  const groups = new Map<string, ConstructorRow>();
  let totalBytes = 0;
  for (let i = 0; i < count; i++) {
    const name = nameOf(i);
    const g = groups.get(name) ?? { name, count: 0, selfBytes: 0 };
    g.count++;
    g.selfBytes += selfOf(i);
    totalBytes += selfOf(i);
    groups.set(name, g);
  }

  // Depth-first post-order from the root (node 0) over strong edges.
  const order = new Int32Array(count).fill(-1); // post-order number of each node
  const byOrder = new Int32Array(count);
  const stack = new Int32Array(count);
  const cursor = new Int32Array(count);
  const seen = new Uint8Array(count);
  let sp = 0;
  let post = 0;
  stack[sp++] = 0;
  seen[0] = 1;
  cursor[0] = firstEdge[0] ?? 0;
  while (sp > 0) {
    const n = stack[sp - 1] ?? 0;
    const end = firstEdge[n + 1] ?? 0;
    let pushed = false;
    while ((cursor[n] ?? 0) < end) {
      const e = cursor[n] ?? 0;
      cursor[n] = e + EF;
      if (edges[e + eType] === weak) continue;
      const to = (edges[e + eTo] ?? 0) / NF;
      if (seen[to]) continue;
      seen[to] = 1;
      cursor[to] = firstEdge[to] ?? 0;
      stack[sp++] = to;
      pushed = true;
      break;
    }
    if (!pushed) {
      sp--;
      order[n] = post;
      byOrder[post] = n;
      post++;
    }
  }

  // Predecessors over strong edges, reachable nodes only.
  const predCount = new Int32Array(count + 1);
  for (let n = 0; n < count; n++) {
    if (order[n] === -1) continue;
    for (let e = firstEdge[n] ?? 0; e < (firstEdge[n + 1] ?? 0); e += EF) {
      if (edges[e + eType] === weak) continue;
      const to = (edges[e + eTo] ?? 0) / NF;
      predCount[to + 1] = (predCount[to + 1] ?? 0) + 1;
    }
  }
  for (let i = 0; i < count; i++) predCount[i + 1] = (predCount[i + 1] ?? 0) + (predCount[i] ?? 0);
  const preds = new Int32Array(predCount[count] ?? 0);
  const fill = predCount.slice(0, count);
  for (let n = 0; n < count; n++) {
    if (order[n] === -1) continue;
    for (let e = firstEdge[n] ?? 0; e < (firstEdge[n + 1] ?? 0); e += EF) {
      if (edges[e + eType] === weak) continue;
      const to = (edges[e + eTo] ?? 0) / NF;
      preds[fill[to] ?? 0] = n;
      fill[to] = (fill[to] ?? 0) + 1;
    }
  }

  // Immediate dominators, in post-order numbers (the root has the highest).
  const root = order[0] ?? 0;
  const idom = new Int32Array(post).fill(-1);
  idom[root] = root;
  const intersect = (a: number, b: number): number => {
    while (a !== b) {
      while (a < b) a = idom[a] ?? root;
      while (b < a) b = idom[b] ?? root;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let o = post - 1; o >= 0; o--) {
      if (o === root) continue;
      const n = byOrder[o] ?? 0;
      let dom = -1;
      for (let p = predCount[n] ?? 0; p < (predCount[n + 1] ?? 0); p++) {
        const po = order[preds[p] ?? 0] ?? -1;
        if (po === -1 || idom[po] === -1) continue;
        dom = dom === -1 ? po : intersect(po, dom);
      }
      if (dom !== -1 && idom[o] !== dom) {
        idom[o] = dom;
        changed = true;
      }
    }
  }

  // Retained size: own size plus everything dominated. Post-order visits children before parents.
  const retained = new Float64Array(post);
  for (let o = 0; o < post; o++) retained[o] = selfOf(byOrder[o] ?? 0);
  for (let o = 0; o < post; o++) if (o !== root) retained[idom[o] ?? root] = (retained[idom[o] ?? root] ?? 0) + (retained[o] ?? 0);

  const edgeLabel = (from: number, to: number): string => {
    for (let e = firstEdge[from] ?? 0; e < (firstEdge[from + 1] ?? 0); e += EF) {
      if ((edges[e + eTo] ?? 0) / NF !== to) continue;
      const type = edges[e + eType] ?? 0;
      const name = edges[e + eName] ?? 0;
      return elementLike.has(type) ? `[${name}]` : `.${strings[name] ?? name}`;
    }
    return '';
  };
  // Who holds an object, for people: its dominator when that is a real object, else the first
  // real object with a strong edge to it, else the root category (global handles, stack, …).
  const synthetic = (n: number) => typeOf(n) === 'synthetic';
  const holder = (o: number): string => {
    const n = byOrder[o] ?? 0;
    const d = byOrder[idom[o] ?? root] ?? 0;
    if (!synthetic(d)) return `${nameOf(d, true)}${edgeLabel(d, n)}`;
    let fallback = '';
    for (let p = predCount[n] ?? 0; p < (predCount[n + 1] ?? 0); p++) {
      const from = preds[p] ?? 0;
      if (!synthetic(from)) return `${nameOf(from, true)}${edgeLabel(from, n)}`;
      fallback ||= strings[nodes[from * NF + nName] ?? 0] ?? '(root)';
    }
    return fallback || '(root)';
  };
  // Data, not code: the objects a program allocates and could let go of.
  const dataTypes = new Set(['object', 'closure', 'native', 'array', 'string', 'concatenated string', 'sliced string']);
  const candidates: number[] = [];
  for (let o = 0; o < post; o++) {
    const n = byOrder[o] ?? 0;
    if (o === root || !dataTypes.has(typeOf(n))) continue;
    candidates.push(o);
  }
  candidates.sort((a, b) => (retained[b] ?? 0) - (retained[a] ?? 0));
  const shown = new Set<number>();
  const topRetainers: RetainerRow[] = [];
  for (const o of candidates) {
    if (topRetainers.length >= top) break;
    // Skip an object whose listed owner (or owner's owner) holds nearly all of it: an Array and its
    // backing store, a Map and its table.
    let d = idom[o] ?? root;
    let covered = false;
    for (let hops = 0; hops < 3 && d !== root; hops++, d = idom[d] ?? root) {
      if (shown.has(d) && (retained[o] ?? 0) > 0.8 * (retained[d] ?? 0)) covered = true;
    }
    shown.add(o);
    if (covered) continue;
    const n = byOrder[o] ?? 0;
    topRetainers.push({ name: nameOf(n), retainedBytes: retained[o] ?? 0, selfBytes: selfOf(n), heldBy: holder(o) });
  }

  const byHolder = new Map<string, { holder: string; count: number; bytes: number }>();
  for (let n = 0; n < count; n++) {
    if (order[n] === -1 || nameOf(n) !== '(string)') continue;
    let label = '(root)';
    for (let p = predCount[n] ?? 0; p < (predCount[n + 1] ?? 0); p++) {
      const from = preds[p] ?? 0;
      if (synthetic(from) || nameOf(from) === '(string)') continue;
      const edge = edgeLabel(from, n);
      // Array elements and Map entries by their container, not by index.
      label = `${nameOf(from, true)}${edge.startsWith('[') ? '[]' : edge}`;
      break;
    }
    const row = byHolder.get(label) ?? { holder: label, count: 0, bytes: 0 };
    row.count++;
    row.bytes += selfOf(n);
    byHolder.set(label, row);
  }

  return {
    totalBytes,
    nodes: count,
    stringsByHolder: [...byHolder.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top),
    byConstructor: [...groups.values()].sort((a, b) => b.selfBytes - a.selfBytes).slice(0, top),
    topRetainers,
  };
}
