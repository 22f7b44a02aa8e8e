import { argError } from './errors';
import { petsc } from './init';

export type OptionValue = string | number | boolean;

function key(prefix: string, name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw argError('Options', 'an option name', name);
  const bare = name.startsWith('-') ? name.slice(1) : name;
  return `-${prefix}${bare}`;
}

/**
 * The PETSc options database, optionally under a prefix (like petsc4py's PETSc.Options):
 * `new Options('tr_').set('tao_type', 'ntr')` sets -tr_tao_type ntr. Options from the command
 * line are already in it; settings take effect at the next setFromOptions().
 */
export class Options {
  readonly prefix: string;

  constructor(prefix = '') {
    if (typeof prefix !== 'string') throw argError('Options: prefix', 'a string', prefix);
    this.prefix = prefix;
  }

  /**
   * Sets an option; `true` or no value sets a flag, `false` removes it. A value written as an
   * integer outside PetscInt's range (|v| > 2^31-1) is refused with a RangeError: PETSc's parser
   * would wrap it (4294967297 became 1).
   */
  set(name: string, value: OptionValue = true): this {
    const k = key(this.prefix, name);
    if (typeof value === 'number' && !Number.isFinite(value)) throw new RangeError(`petscml: Options.set: ${k}: expected a finite number, got ${value}`);
    if (value === false) petsc().options.clearValue(k);
    else petsc().options.setValue(k, value === true ? null : String(value));
    return this;
  }
  /** The value as a string ('' for a flag), or undefined when unset. */
  get(name: string): string | undefined {
    const v = petsc().options.getValue(key(this.prefix, name));
    return v === null ? undefined : v;
  }
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }
  delete(name: string): this {
    petsc().options.clearValue(key(this.prefix, name));
    return this;
  }
  /** Whether PETSc has read this option since it was set (an unread option is a typo or unused). */
  used(name: string): boolean {
    return petsc().options.used(key(this.prefix, name));
  }
  /** Sets several options: { tao_type: 'ntr', tao_max_it: 50 }. */
  setAll(values: Record<string, OptionValue>): this {
    for (const [k, v] of Object.entries(values)) this.set(k, v);
    return this;
  }
  /** Parses a command-line style string: '-tao_type nls -tao_monitor'. */
  static insert(text: string): void {
    petsc().options.insertString(text);
  }
  /** The whole database as PETSc prints it. */
  static all(): string {
    return petsc().options.getAll();
  }
}
