/**
 * `petscml reproduce <case>`: reruns one of the paper's comparisons (src/reproduce).
 */
import { parseArgs } from 'node:util';
import { nonNegativeInt, positiveInt, splitPetscOptions, UsageError } from './args';

export const REPRODUCE_HELP = `Usage:
  petscml reproduce burgers [options] [PETSc options]

Reruns the paper's FNO Burgers comparison (PETScML section 4.1.1): generates the data (viscous
Burgers, nu = 0.1, Gaussian random initial conditions, pseudo-spectral ETDRK4), trains REF
(first order, mini-batches of the paper's schedule) and then L-BFGS, LS, LS-GN, TR and TR-GN from
the same initial weights, each second-order run bounded by the oracle calls REF used. Loss: mean
squared relative error (eq. 6); test metric: mean relative error (eq. 7).

Options:
  --size NAME         tiny | small (default) | paper
                        small: s = 64, 200 / 50 samples, FNO width 32 / 16 modes, REF 100 epochs
                               (minutes on 2 cores)
                        paper: s = 128, 1000 / 200 samples, width 64 / 16 modes (549,569
                               parameters), REF 500 epochs (hours on 2 cores)
  --solvers LIST      second-order presets after REF (default lbfgs,ls,ls-gn,tr,tr-gn)
  --reference NAME    adamw (default: the paper's optax ADAMW, decoupled decay 1e-4) or adam-l2
                      (the original FNO scripts' Adam with coupled L2 decay 1e-4); lr 1e-3,
                      halved on a staircase (every 20 epochs at small size, 100 at paper size)
  --ref-epochs N      REF's epochs (default: the size's)
  --lr-halving N      REF's learning rate is halved every N epochs (default: the size's)
  --budget N          oracle calls of each second-order run (default: what REF used)
  --warmup-epochs N   the paper's hybrid start: N epochs of REF, then each second-order solver
                      from there; the warm-up's oracle calls count against the budget (default 0)
  --seed N            data and weight seed (default 1234)
  --data FILE         the authors' burgers_data_R10.mat (a, u; or a .npz / HDF5 file with those
                      names) instead of generated data: first rows train, last rows test, strided
  --backend NAME      tfjs backend (default: best available)
  --out DIR           logs, summary.md, results.json and the figure (default runs/burgers)
  --no-plot           do not draw the figure
  --quiet             no progress lines
  -h, --help          this text

Prefixed PETSc options tune one solver (-trgn_tao_ntr_ksp_max_it 50, -ref_tao_adamw_lr 2e-3).
navier-stokes (FNO-3D) is not available yet.
`;

export async function runReproduce(argv: readonly string[]): Promise<number> {
  const { own } = splitPetscOptions(argv);
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: own, allowPositionals: true, strict: true,
      options: {
        size: { type: 'string' }, solvers: { type: 'string' }, reference: { type: 'string' }, 'ref-epochs': { type: 'string' }, 'lr-halving': { type: 'string' },
        budget: { type: 'string' }, 'warmup-epochs': { type: 'string' }, seed: { type: 'string' }, data: { type: 'string' }, backend: { type: 'string' }, out: { type: 'string' },
        'no-plot': { type: 'boolean' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(REPRODUCE_HELP);
    return 0;
  }
  const which = positionals[0];
  if (which === undefined) throw new UsageError('reproduce needs a case: burgers');
  if (positionals.length > 1) throw new UsageError(`reproduce takes one case, got '${positionals.join(' ')}'`);
  if (which === 'navier-stokes') throw new UsageError('navier-stokes is not available yet: the FNO-3D model and the Navier-Stokes generator are still to come');
  if (which !== 'burgers') throw new UsageError(`unknown case '${which}' (cases: burgers)`);
  const size = String(values.size ?? 'small');
  if (!['tiny', 'small', 'paper'].includes(size)) throw new UsageError(`--size must be tiny, small or paper, got '${size}'`);
  const reference = String(values.reference ?? 'adamw');
  if (reference !== 'adamw' && reference !== 'adam-l2') throw new UsageError(`--reference must be adamw or adam-l2, got '${reference}'`);
  const { BURGERS_SOLVERS, reproduceBurgers } = await import('../reproduce');
  const solvers = values.solvers === undefined ? [...BURGERS_SOLVERS] : String(values.solvers).split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of solvers) {
    if (!(BURGERS_SOLVERS as readonly string[]).includes(s)) throw new UsageError(`unknown solver '${s}' in --solvers (second-order presets: ${BURGERS_SOLVERS.join(', ')})`);
  }
  if (new Set(solvers).size !== solvers.length) throw new UsageError('--solvers lists a solver twice');
  const backend = values.backend as string | undefined;
  const { BACKEND_NAMES } = await import('../functions/backend');
  if (backend !== undefined && !(BACKEND_NAMES as readonly string[]).includes(backend)) {
    throw new UsageError(`--backend must be one of ${BACKEND_NAMES.join(', ')}, got '${backend}'`);
  }
  await reproduceBurgers({
    size: size as 'small', out: String(values.out ?? 'runs/burgers'), solvers: solvers as never, reference,
    refEpochs: values['ref-epochs'] === undefined ? undefined : positiveInt('ref-epochs', values['ref-epochs'] as string, 0),
    halvingEpochs: values['lr-halving'] === undefined ? undefined : positiveInt('lr-halving', values['lr-halving'] as string, 0),
    budget: values.budget === undefined ? undefined : positiveInt('budget', values.budget as string, 0),
    warmupEpochs: nonNegativeInt('warmup-epochs', values['warmup-epochs'] as string | undefined, 0),
    seed: positiveInt('seed', values.seed as string | undefined, 1234),
    data: values.data as string | undefined,
    backend: backend as never, plot: !values['no-plot'], progress: !values.quiet,
  });
  return 0;
}
