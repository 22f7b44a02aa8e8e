/**
 * First-order reference optimizers as TAO solver types: 'adam', 'adamw' and 'sgd' (native/firstorder.cc).
 *
 * They are chosen like any TAO type: `new Tao({ type: 'adam' })`, `tao.type = 'sgd'`, or
 * `-tao_type adamw` on the command line (`-ref_tao_type adamw` for a Tao with prefix 'ref_'), and
 * read their settings from `-[prefix]tao_<type>_<name>` in `Tao.setFromOptions()` (table below).
 * Monitors, logs, `-tao_view`, `-tao_monitor` and the convergence tests work as for every TAO type.
 *
 * One step k = 0, 1, 2, ...:
 *  1. the update hook (Tao.setUpdate) is called with k; driveMiniBatches selects batch k % batches there;
 *  2. f and g are evaluated at x_k (on that batch);
 *  3. the monitor sees (k, f, ||g||) with `stepLength` = lr_k, the learning rate of this step, and
 *     TAO's convergence test runs (max_it, gatol, grtol, gttol, fmin, max_funcs; steptol compares
 *     against lr_k);
 *  4. x_{k+1} is computed from x_k and g.
 * So `maxIterations = N` (`-tao_max_it N`) performs exactly N steps; the final evaluation, at x_N,
 * gives the reported f. A NaN or infinite f or ||g|| stops the solve with reason DIVERGED_NAN
 * (no exception: too large a learning rate is an ordinary training outcome).
 *
 * Update formulas (float64; those of tfjs 4.22's AdamOptimizer and MomentumOptimizer and of PyTorch's
 * Adam, AdamW and SGD), with t = k + 1:
 * - adam:  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  mhat = m / (1 - b1^t);
 *          vhat = v / (1 - b2^t);  x -= lr (mhat / (sqrt(vhat) + eps))
 * - adamw: the same with decoupled weight decay: x -= lr (mhat / (sqrt(vhat) + eps) + wd x)
 *          (wd multiplies the old x; as PyTorch's AdamW and optax's adamw, the decay is scaled
 *          by the scheduled lr). With wd = 0, adamw is adam bit for bit.
 * - sgd:   a = mu a + g;  x -= lr a  (heavy ball, as tfjs's MomentumOptimizer and PyTorch's SGD
 *          with dampening 0); Nesterov: x -= lr (g + mu a) with the new a.
 * - adam and sgd with weight_decay wd > 0: g + wd x replaces g (coupled L2, PyTorch's Adam and SGD
 *   `weight_decay`; the objective reported stays the loss without the penalty, as in PyTorch).
 *
 * Learning-rate schedule, with epoch = floor(k / steps_per_epoch), K = lr_decay_epochs, r = lr_decay_rate:
 * - constant:      lr_k = lr0
 * - staircase:     lr_k = lr0 * r^floor(epoch / K)
 * - inverse_time:  lr_k = lr0 / (1 + r * epoch / K)     (real division; epoch is an integer)
 *
 * The optimizer state (moments, momentum, t) starts from zero in every solve, like a newly
 * constructed tfjs or PyTorch optimizer; so does the schedule's step count.
 */
import { argError, checkInt } from '../petsc/errors';
import { Options } from '../petsc/options';
import { Tao } from '../petsc/tao';

export type FirstOrderType = 'adam' | 'adamw' | 'sgd';
export const FIRST_ORDER_TYPES: readonly FirstOrderType[] = ['adam', 'adamw', 'sgd'];

export type FirstOrderOptionValue = number | boolean | string;

/** One setting of the first-order types, read from `-[prefix]tao_<type>_<name>`. */
export interface FirstOrderOption {
  /** The option's name after `tao_<type>_` (e.g. 'lr' for -tao_adam_lr). */
  readonly name: string;
  /** The types that read it. */
  readonly types: readonly FirstOrderType[];
  readonly kind: 'real' | 'int' | 'bool' | 'enum';
  /** Allowed values of an 'enum'. */
  readonly values?: readonly string[];
  /** Default, per type. */
  readonly defaults: Readonly<Partial<Record<FirstOrderType, FirstOrderOptionValue>>>;
  /** Accepted range, as the solver checks it in setFromOptions (a PetscError otherwise). */
  readonly range: string;
  readonly description: string;
}

const ALL = FIRST_ORDER_TYPES;
const ADAMS: readonly FirstOrderType[] = ['adam', 'adamw'];
const each = (v: FirstOrderOptionValue, types: readonly FirstOrderType[] = ALL) =>
  Object.fromEntries(types.map((t) => [t, v])) as Partial<Record<FirstOrderType, FirstOrderOptionValue>>;

/** Every option of the first-order types, as the native solver reads and checks it. */
export const FIRST_ORDER_OPTIONS: readonly FirstOrderOption[] = [
  { name: 'lr', types: ALL, kind: 'real', defaults: { adam: 1e-3, adamw: 1e-3, sgd: 1e-2 }, range: '> 0',
    description: 'Initial learning rate lr0 (the schedule scales it per epoch).' },
  { name: 'beta1', types: ADAMS, kind: 'real', defaults: each(0.9, ADAMS), range: '[0, 1)',
    description: 'Decay of the first-moment (gradient) moving average.' },
  { name: 'beta2', types: ADAMS, kind: 'real', defaults: each(0.999, ADAMS), range: '[0, 1)',
    description: 'Decay of the second-moment (squared gradient) moving average.' },
  { name: 'epsilon', types: ADAMS, kind: 'real', defaults: each(1e-8, ADAMS), range: '> 0',
    description: 'Added to sqrt(vhat) in the denominator (PyTorch and optax use 1e-8; tfjs defaults to its backend epsilon, 1e-7).' },
  { name: 'weight_decay', types: ALL, kind: 'real', defaults: { adam: 0, adamw: 1e-2, sgd: 0 }, range: '>= 0',
    description: 'adamw: decoupled weight decay, each step also subtracts lr*wd*x (PyTorch AdamW default 1e-2). ' +
      'adam, sgd: coupled L2 decay, g + wd*x replaces g before the update (PyTorch Adam and SGD weight_decay; the FNO scripts\' Adam).' },
  { name: 'momentum', types: ['sgd'], kind: 'real', defaults: { sgd: 0.9 }, range: '[0, 1)',
    description: 'Heavy-ball momentum mu: a = mu*a + g, x -= lr*a (0: plain SGD).' },
  { name: 'nesterov', types: ['sgd'], kind: 'bool', defaults: { sgd: false }, range: 'needs momentum > 0',
    description: 'Nesterov momentum: x -= lr*(g + mu*a), as tfjs useNesterov and PyTorch nesterov=True.' },
  { name: 'lr_schedule', types: ALL, kind: 'enum', values: ['constant', 'staircase', 'inverse_time'], defaults: each('constant'),
    range: 'constant | staircase | inverse_time',
    description: 'Learning rate per epoch: constant lr0; staircase lr0*r^floor(epoch/K); inverse_time lr0/(1 + r*epoch/K).' },
  { name: 'lr_decay_rate', types: ALL, kind: 'real', defaults: each(0.5), range: '>= 0 (> 0 for staircase)',
    description: 'The schedule\'s rate r.' },
  { name: 'lr_decay_epochs', types: ALL, kind: 'int', defaults: each(1), range: '>= 1',
    description: 'The schedule\'s period K, in epochs.' },
  { name: 'steps_per_epoch', types: ALL, kind: 'int', defaults: each(1), range: '>= 1',
    description: 'Steps per epoch: epoch = floor(step / steps_per_epoch). driveMiniBatches sets it to the number of mini-batches.' },
];

/** The full option name: firstOrderOptionName('adam', 'lr', 'ref_') is '-ref_tao_adam_lr'. */
export function firstOrderOptionName(type: FirstOrderType, name: string, prefix: string | null = null): string {
  return `-${prefix ?? ''}tao_${type}_${name}`;
}

/** A function whose data comes in mini-batches that a caller selects (TfjsFunction is one). */
export interface MiniBatched {
  readonly batchCount: number;
  selectBatch(index: number): void;
}

/**
 * Makes step k of `tao` evaluate on mini-batch k % fn.batchCount (through TAO's update hook, which
 * replaces any earlier one), and sets `steps_per_epoch` = fn.batchCount for all three first-order
 * types under the tao's options prefix, unless the options database already has a value there.
 *
 * Order: call it before `tao.setFromOptions()`; options are read only there. Intended for the
 * first-order types, which evaluate f and g after the hook; TAO 3.18's Newton and quasi-Newton
 * solvers do not re-evaluate after it (use ObjectiveFunction.update with those).
 * Returns the number of steps per epoch it set.
 */
export function driveMiniBatches(tao: Tao, fn: MiniBatched): number {
  if (!(tao instanceof Tao)) throw argError('driveMiniBatches: tao', 'a Tao', tao);
  if (fn === null || typeof fn !== 'object' || typeof fn.selectBatch !== 'function') {
    throw argError('driveMiniBatches: fn', 'a function with selectBatch(index) and batchCount', fn);
  }
  const batches = checkInt('driveMiniBatches: fn.batchCount', fn.batchCount, 1);
  tao.setUpdate((k) => fn.selectBatch(k % batches));
  const options = new Options(tao.prefix ?? '');
  for (const type of FIRST_ORDER_TYPES) {
    const name = `tao_${type}_steps_per_epoch`;
    if (!options.has(name)) options.set(name, batches);
  }
  return batches;
}
