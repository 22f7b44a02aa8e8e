import { NativeKSP, NativePC } from '../native';
import { argError, checkFunction, checkNumber, checkPetscInt, checkString, redeliverInterrupt } from './errors';
import { Borrowed } from './borrowed';
import { petsc } from './init';
import { asMat, MultFn, ShellMat } from './mat';
import { asVec, Comm, Vec } from './vec';

/** A preconditioner. Obtained from a KSP. */
export class PC {
  /** @internal */
  readonly handle: NativePC;
  /** @internal */
  constructor(handle: NativePC) {
    this.handle = handle;
  }
  get type(): string | null {
    return this.handle.getType();
  }
  /** 'none', 'jacobi', 'lmvm', 'shell', ... (any PCType of this PETSc). */
  set type(t: string) {
    this.handle.setType(checkString('PC.type', t));
  }
  /** Makes this a shell preconditioner: y = M^{-1} x through `apply`. */
  setShell(apply: MultFn): this {
    this.handle.setShellApply(checkFunction<MultFn>('PC.setShell', apply));
    return this;
  }
}

export interface KSPTolerances {
  rtol?: number;
  atol?: number;
  divtol?: number;
  maxIts?: number;
}

/** A Krylov linear solver. */
export class KSP {
  /** @internal */
  readonly handle: NativeKSP;
  private readonly borrowed = new Borrowed();
  private operators?: ShellMat[];

  constructor(opts: { comm?: Comm; type?: string; prefix?: string } = {}) {
    const comm = opts.comm ?? 'self';
    if (comm !== 'self' && comm !== 'world') throw argError('KSP: comm', "'self' or 'world'", comm);
    this.handle = new (petsc().KSP)(comm);
    if (opts.prefix !== undefined) this.prefix = opts.prefix;
    if (opts.type !== undefined) this.type = opts.type;
  }

  /** @internal */
  static wrap(handle: NativeKSP): KSP {
    const k = Object.create(KSP.prototype) as KSP;
    (k as { handle: NativeKSP }).handle = handle;
    (k as unknown as { borrowed: Borrowed }).borrowed = new Borrowed();
    return k;
  }

  get type(): string | null {
    return this.handle.getType();
  }
  set type(t: string) {
    this.handle.setType(checkString('KSP.type', t));
  }
  get prefix(): string | null {
    return this.handle.getOptionsPrefix();
  }
  set prefix(p: string | null) {
    this.handle.setOptionsPrefix(p === null ? null : checkString('KSP.prefix', p));
  }
  setFromOptions(): this {
    this.handle.setFromOptions();
    return this;
  }
  setOperators(A: ShellMat, P?: ShellMat): this {
    const a = asMat('KSP.setOperators: A', A), p = P === undefined ? undefined : asMat('KSP.setOperators: P', P);
    this.handle.setOperators(a.handle, p ? p.handle : null);
    // Kept while this KSP is: PETSc calls their callbacks from this KSP's solves (see HoldCallback).
    this.operators = p ? [a, p] : [a];
    return this;
  }
  setTolerances(t: KSPTolerances): this {
    const pick = (v: number | undefined, name: string) => (v === undefined ? NaN : checkNumber(`KSP.setTolerances: ${name}`, v));
    const maxIts = t.maxIts === undefined ? NaN : checkPetscInt('KSP.setTolerances: maxIts', t.maxIts);
    this.handle.setTolerances(pick(t.rtol, 'rtol'), pick(t.atol, 'atol'), pick(t.divtol, 'divtol'), maxIts);
    return this;
  }
  get tolerances(): Required<KSPTolerances> {
    return this.handle.getTolerances();
  }
  /** The preconditioner; released with this KSP. */
  get pc(): PC {
    return this.borrowed.get(this.handle.getPC(), (b) => new PC(b as NativePC));
  }
  /** Solves A x = b; returns x. */
  solve(b: Vec, x: Vec): Vec {
    const bh = asVec('KSP.solve: b', b).handle, xh = asVec('KSP.solve: x', x).handle;
    try {
      this.handle.solve(bh, xh);
    } catch (e) {
      throw redeliverInterrupt(e);
    }
    return x;
  }
  get iterations(): number {
    return this.handle.getIterationNumber();
  }
  /** PETSc's KSPConvergedReason: code (> 0 converged, < 0 diverged) and name. */
  get convergedReason(): { code: number; name: string } {
    return this.handle.getConvergedReason();
  }
  get residualNorm(): number {
    return this.handle.getResidualNorm();
  }
  destroy(): void {
    this.handle.destroy(); // first: it refuses while a solve runs, and then nothing is released
    this.borrowed.releaseAll();
    this.operators = undefined;
  }
}
