/**
 * An independent float64 reference for f, g, exact Hv and Gauss-Newton v: a scalar
 * forward-over-reverse automatic differentiator over dual numbers (value, tangent). Each node
 * stores its local partial derivatives as duals, written from hand-derived first AND second
 * derivatives, so the reverse pass run on duals yields the gradient (value part) and H v
 * (tangent part) when the inputs are seeded with tangent v. Nothing here uses tfjs.
 */
export class Node {
  a = 0; // adjoint value
  at = 0; // adjoint tangent
  constructor(readonly v: number, readonly t: number, readonly parents: Node[], readonly dv: number[], readonly dt: number[], readonly id: number) {}
}

export class Tape {
  readonly nodes: Node[] = [];
  private make(v: number, t: number, parents: Node[], dv: number[], dt: number[]): Node {
    const n = new Node(v, t, parents, dv, dt, this.nodes.length);
    this.nodes.push(n);
    return n;
  }
  input(v: number, t = 0): Node { return this.make(v, t, [], [], []); }
  const(v: number): Node { return this.make(v, 0, [], [], []); }
  add(a: Node, b: Node): Node { return this.make(a.v + b.v, a.t + b.t, [a, b], [1, 1], [0, 0]); }
  sub(a: Node, b: Node): Node { return this.make(a.v - b.v, a.t - b.t, [a, b], [1, -1], [0, 0]); }
  mul(a: Node, b: Node): Node { return this.make(a.v * b.v, a.t * b.v + a.v * b.t, [a, b], [b.v, a.v], [b.t, a.t]); }
  scale(a: Node, c: number): Node { return this.make(c * a.v, c * a.t, [a], [c], [0]); }
  div(a: Node, b: Node): Node {
    const v = a.v / b.v;
    const t = a.t / b.v - a.v * b.t / (b.v * b.v);
    return this.make(v, t, [a, b], [1 / b.v, -a.v / (b.v * b.v)],
      [-b.t / (b.v * b.v), -a.t / (b.v * b.v) + 2 * a.v * b.t / (b.v * b.v * b.v)]);
  }
  /** A unary op from its value f, first derivative d1 and second derivative d2 at x. */
  unary(x: Node, f: number, d1: number, d2: number): Node {
    return this.make(f, d1 * x.t, [x], [d1], [d2 * x.t]);
  }
  sum(xs: Node[]): Node {
    return this.make(xs.reduce((s, x) => s + x.v, 0), xs.reduce((s, x) => s + x.t, 0), xs, xs.map(() => 1), xs.map(() => 0));
  }

  /** Reverse sweep from seeds (adjoint value, adjoint tangent) on output nodes. */
  reverse(seeds: [Node, number, number][]): void {
    for (const n of this.nodes) { n.a = 0; n.at = 0; }
    for (const [n, a, at] of seeds) { n.a += a; n.at += at; }
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i];
      if (n.a === 0 && n.at === 0) continue;
      for (let k = 0; k < n.parents.length; k++) {
        const p = n.parents[k];
        p.a += n.a * n.dv[k];
        p.at += n.at * n.dv[k] + n.a * n.dt[k];
      }
    }
  }
}

export type Act = (t: Tape, x: Node) => Node;

function erf(x: number): number {
  // Maclaurin series: converges to float64 accuracy for |x| < 4 within 100 terms.
  if (Math.abs(x) > 4) return Math.sign(x);
  let sum = 0;
  let term = x;
  for (let n = 0; n < 200; n++) {
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    term *= -x * x / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

export const acts: Record<string, Act> = {
  linear: (_t, x) => x,
  tanh: (t, x) => { const y = Math.tanh(x.v); return t.unary(x, y, 1 - y * y, -2 * y * (1 - y * y)); },
  sigmoid: (t, x) => { const s = 1 / (1 + Math.exp(-x.v)); return t.unary(x, s, s * (1 - s), s * (1 - s) * (1 - 2 * s)); },
  exp: (t, x) => { const e = Math.exp(x.v); return t.unary(x, e, e, e); },
  elu: (t, x) => x.v > 0 ? t.unary(x, x.v, 1, 0) : t.unary(x, Math.expm1(x.v), Math.exp(x.v), Math.exp(x.v)),
  relu: (t, x) => x.v > 0 ? t.unary(x, x.v, 1, 0) : t.unary(x, 0, 0, 0),
  sin: (t, x) => t.unary(x, Math.sin(x.v), Math.cos(x.v), -Math.sin(x.v)),
  softplus: (t, x) => {
    const s = 1 / (1 + Math.exp(-x.v));
    const f = x.v > 0 ? x.v + Math.log1p(Math.exp(-x.v)) : Math.log1p(Math.exp(x.v));
    return t.unary(x, f, s, s * (1 - s));
  },
  geluTanh: (t, x) => {
    // 0.5 x (1 + tanh(c (x + 0.044715 x^3))) built from nodes (products and tanh).
    const c = Math.sqrt(2 / Math.PI);
    const x3 = t.mul(t.mul(x, x), x);
    const inner = t.scale(t.add(x, t.scale(x3, 0.044715)), c);
    const th = acts.tanh(t, inner);
    return t.mul(t.scale(x, 0.5), t.add(t.const(1), th));
  },
  geluErf: (t, x) => {
    const u = x.v * Math.SQRT1_2;
    const d1 = Math.SQRT1_2 * (2 / Math.sqrt(Math.PI)) * Math.exp(-u * u);
    const e = t.unary(x, erf(u), d1, -2 * u * Math.SQRT1_2 * d1);
    return t.mul(t.scale(x, 0.5), t.add(t.const(1), e));
  },
};

/** Row-major float64 matrix of nodes. */
export type M = Node[][];

export function matmul(t: Tape, a: M, b: M): M {
  return a.map(row => b[0].map((_, j) => t.sum(row.map((x, k) => t.mul(x, b[k][j])))));
}

export function matmulConst(t: Tape, a: M, c: number[][]): M {
  return a.map(row => c[0].map((_, j) => t.sum(row.map((x, k) => t.scale(x, c[k][j])))));
}

export function softmaxRows(t: Tape, z: M): M {
  return z.map(row => {
    const m = Math.max(...row.map(x => x.v)); // a constant shift: softmax is invariant to it
    const e = row.map(x => acts.exp(t, t.sub(x, t.const(m))));
    const s = t.sum(e);
    return e.map(x => t.div(x, s));
  });
}

export function mse(t: Tape, z: M, y: number[][]): Node {
  const terms: Node[] = [];
  z.forEach((row, i) => row.forEach((x, j) => { const d = t.sub(x, t.const(y[i][j])); terms.push(t.mul(d, d)); }));
  return t.scale(t.sum(terms), 1 / terms.length);
}

export function msre(t: Tape, z: M, y: number[][]): Node {
  const per = z.map((row, i) => {
    const num = t.sum(row.map((x, j) => { const d = t.sub(x, t.const(y[i][j])); return t.mul(d, d); }));
    const den = y[i].reduce((s, v) => s + v * v, 0);
    return t.scale(num, 1 / den);
  });
  return t.scale(t.sum(per), 1 / per.length);
}

/**
 * f, g, H v and Gauss-Newton v of loss(model(w)) in float64. `build` maps parameter nodes to the
 * model output matrix; `loss` maps an output matrix to a scalar node.
 */
export function reference(
  w: Float64Array, v: Float64Array,
  build: (t: Tape, p: Node[]) => M,
  loss: (t: Tape, z: M) => Node,
): { f: number; g: Float64Array; hv: Float64Array; gnv: Float64Array } {
  // Exact: seed tangents with v; reverse on duals.
  const t = new Tape();
  const p = Array.from(w, (wi, i) => t.input(wi, v[i]));
  const z = build(t, p);
  const L = loss(t, z);
  t.reverse([[L, 1, 0]]);
  const g = Float64Array.from(p, n => n.a);
  const hv = Float64Array.from(p, n => n.at);
  // Gauss-Newton: Jv is the tangent of z; H_loss Jv from a second tape over z alone.
  const t2 = new Tape();
  const zin = z.map(row => row.map(n => t2.input(n.v, n.t)));
  const L2 = loss(t2, zin);
  t2.reverse([[L2, 1, 0]]);
  const seeds: [Node, number, number][] = [];
  z.forEach((row, i) => row.forEach((n, j) => seeds.push([n, zin[i][j].at, 0])));
  t.reverse(seeds);
  const gnv = Float64Array.from(p, n => n.a);
  return { f: L.v, g, hv, gnv };
}
