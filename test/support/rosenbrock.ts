/** Extended Rosenbrock, f = sum_i alpha (x[2i+1] - x[2i]^2)^2 + (1 - x[2i])^2: minimizer (1, ..., 1). */
export const ALPHA = 100;

export function rosenbrockFG(x: Float64Array, g: Float64Array): number {
  let f = 0;
  for (let i = 0; i < x.length; i += 2) {
    const t1 = x[i + 1] - x[i] * x[i];
    const t2 = 1 - x[i];
    f += ALPHA * t1 * t1 + t2 * t2;
    g[i] = -4 * ALPHA * t1 * x[i] - 2 * t2;
    g[i + 1] = 2 * ALPHA * t1;
  }
  return f;
}

export function rosenbrockF(x: Float64Array): number {
  return rosenbrockFG(x, new Float64Array(x.length));
}

/** y = H(p) v for the Hessian at p. */
export function rosenbrockHv(p: Float64Array, v: Float64Array, y: Float64Array): void {
  for (let i = 0; i < v.length; i += 2) {
    const a = p[i], b = p[i + 1];
    const h00 = 12 * ALPHA * a * a - 4 * ALPHA * b + 2, h01 = -4 * ALPHA * a, h11 = 2 * ALPHA;
    y[i] = h00 * v[i] + h01 * v[i + 1];
    y[i + 1] = h01 * v[i] + h11 * v[i + 1];
  }
}
