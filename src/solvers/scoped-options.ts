/**
 * A solver's own options, present in PETSc's options database only while that solver reads them.
 *
 * PETSc has one process-wide options database. A solver that left its preset there for its whole
 * life (or after a failed creation) configured every other solver with the same prefix: a second
 * live solver asked for sgd ran the first one's lmvm. So each solver keeps its options here and
 * inserts them around its own setFromOptions and solve only, then restores the database exactly
 * (values it displaced come back, names it added go). What was in the database before (the
 * command line, or the user's `new Options(...).set`) is never displaced: it wins, as documented.
 *
 * Nesting: a solver that runs inside another's callback with the same prefix overrides the outer
 * solver's inserted values for its own duration (they are the outer solver's, not the user's).
 */
import { petsc } from '../petsc/init';

export interface ScopedEntry {
  /** Full option name without the dash (prefix included). */
  name: string;
  /** Value; null for a flag. */
  value: string | null;
  /**
   * Insert even over a value already in the database: for names PETSc reads without the
   * solver's prefix (the database value there belongs to no one in particular).
   */
  force?: boolean;
}

/** Names currently inserted by some scope, with how many scopes hold them. */
const held = new Map<string, number>();

/** Whether `name` (no dash) is in the database because a solver's run put it there. */
export function isHeld(name: string): boolean {
  return held.has(name);
}

export class ScopedOptions {
  private readonly entries: ScopedEntry[];
  /** Names this scope inserted in its current run (for "was it read" checks inside the run). */
  private active: Set<string> | undefined;

  constructor(entries: readonly ScopedEntry[]) {
    this.entries = entries.map((e) => ({ ...e }));
  }

  /** Names inserted by the run in progress (empty outside a run). */
  get inserted(): ReadonlySet<string> {
    return this.active ?? new Set();
  }

  /** Runs f with the entries in the database; restores the database whatever f does. */
  run<T>(f: () => T): T {
    const leave = this.enter();
    try {
      return f();
    } finally {
      leave();
    }
  }

  /** run() for an asynchronous f: the entries stay in the database until its promise settles. */
  async runAsync<T>(f: () => Promise<T>): Promise<T> {
    const leave = this.enter();
    try {
      return await f();
    } finally {
      leave();
    }
  }

  /** Puts the entries in the database; the returned function restores it. */
  private enter(): () => void {
    const o = petsc().options;
    const restore: [string, string | null | undefined][] = [];
    const hidden: [string, string][] = [];
    const active = new Set<string>();
    const outer = this.active;
    const leave = () => {
      this.active = outer;
      for (let i = restore.length - 1; i >= 0; i--) {
        const [name, prev] = restore[i];
        if (prev === undefined) o.clearValue(`-${name}`);
        else o.setValue(`-${name}`, prev === '' ? null : prev);
        const n = (held.get(name) ?? 1) - 1;
        if (n > 0) held.set(name, n);
        else held.delete(name);
      }
      for (const [name, v] of hidden) o.setValue(`-${name}`, v === '' ? null : v);
    };
    try {
      // A run nested in another solver's callback must not see that solver's settings either.
      const mine = new Set(this.entries.map((e) => e.name));
      for (const name of held.keys()) {
        if (mine.has(name)) continue;
        const v = o.getValue(`-${name}`);
        if (v === null) continue;
        hidden.push([name, v]);
        o.clearValue(`-${name}`);
      }
      for (const e of this.entries) {
        const key = `-${e.name}`;
        const cur = o.getValue(key);
        if (cur !== null && !held.has(e.name) && !e.force) continue;
        restore.push([e.name, cur === null ? undefined : cur]);
        held.set(e.name, (held.get(e.name) ?? 0) + 1);
        o.setValue(key, e.value);
        active.add(e.name);
      }
      this.active = active;
    } catch (e) {
      leave();
      throw e;
    }
    return leave;
  }
}
