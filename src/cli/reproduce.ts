/**
 * `petscml reproduce <case>`: reruns one of the paper's comparisons (src/reproduce).
 */
import { parseArgs } from 'node:util';
import { nonNegativeInt, positiveInt, precisionArg, splitPetscOptions, UsageError } from './args';

function reproduceHelp(cases: readonly { name: string; summary: string }[]): string {
  return `Usage:
  petscml reproduce CASE [options] [PETSc options]
  petscml reproduce CASE --help      what CASE generates, trains and compares, and its sizes

Reruns one of the paper's comparisons (PETScML section 4): generates the data (or reads the
authors' file), trains REF (the first-order optimizer as the authors ran it) and then the
second-order solvers from the same initial weights, each bounded by the oracle calls REF used, so
that they are compared at equal cost as well as per epoch. Writes one JSON-lines log per run,
summary.md, results.json and figure.svg/png (loss and test metric against epochs and oracle calls).

Cases:
${cases.map((c) => `  ${c.name.padEnd(20)}${c.summary}`).join('\n')}

Options:
  --size NAME         tiny | small (default: minutes on 2 cores) | paper (the paper's sizes)
  --solvers LIST      second-order presets after REF (default: the case's; lbfgs,ls,ls-gn,tr,tr-gn)
  --reference NAME    REF's variant (the case's help lists them; default the paper's)
  --ref-epochs N      REF's epochs (default: the size's)
  --lr-halving N      REF's step schedule changes the learning rate every N epochs (default: the size's)
  --budget N          oracle calls of each second-order run (default: what REF used)
  --warmup-epochs N   the paper's hybrid start: N epochs of REF, then each second-order solver
                      from there; the warm-up's oracle calls count against the budget (default 0)
  --seed N            data and weight seed (default 1234)
  --data FILE         the authors' data file instead of generated data (see the case's help)
  --backend NAME      tfjs backend (default: best available)
  --precision P       float32 (default) or float64: every run's model, loss, gradient and
                      Hessian products in double (petscml-float64 backend)
  --out DIR           logs, summary.md, results.json and the figure (default runs/CASE)
  --no-plot           do not draw the figure
  --quiet             no progress lines
  -h, --help          this text

Prefixed PETSc options tune one solver (-trgn_tao_ntr_ksp_max_it 50, -ref_tao_adamw_lr 2e-3).
`;
}

export async function runReproduce(argv: readonly string[]): Promise<number> {
  const { own } = splitPetscOptions(argv);
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: own, allowPositionals: true, strict: true,
      options: {
        size: { type: 'string' }, solvers: { type: 'string' }, reference: { type: 'string' }, 'ref-epochs': { type: 'string' }, 'lr-halving': { type: 'string' },
        budget: { type: 'string' }, 'warmup-epochs': { type: 'string' }, seed: { type: 'string' }, data: { type: 'string' }, backend: { type: 'string' }, precision: { type: 'string' }, out: { type: 'string' },
        'no-plot': { type: 'boolean' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { caseNames, loadCase } = await import('../reproduce');
  const which = positionals[0];
  if (values.help && which === undefined) {
    const cases = await Promise.all(caseNames().map((n) => loadCase(n)));
    process.stdout.write(reproduceHelp(cases.filter((c) => c !== undefined)));
    return 0;
  }
  if (which === undefined) throw new UsageError(`reproduce needs a case: ${caseNames().join(', ')}`);
  if (positionals.length > 1) throw new UsageError(`reproduce takes one case, got '${positionals.join(' ')}'`);
  const c = await loadCase(which);
  if (!c) throw new UsageError(`unknown case '${which}' (cases: ${caseNames().join(', ')})`);
  if (values.help) {
    process.stdout.write(`Usage:\n  petscml reproduce ${c.name} [options] [PETSc options]\n\n${c.summary}.\n${c.help}\n\n` +
      `References: ${c.references.join(', ')} (default ${c.references[0]}). Default solvers: ${c.solvers.join(',')}.\n` +
      `The options are those of 'petscml reproduce --help'.\n`);
    return 0;
  }
  const size = String(values.size ?? 'small');
  if (!['tiny', 'small', 'paper'].includes(size)) throw new UsageError(`--size must be tiny, small or paper, got '${size}'`);
  const reference = String(values.reference ?? c.references[0]);
  if (!c.references.includes(reference)) throw new UsageError(`--reference for ${c.name} must be ${c.references.join(' or ')}, got '${reference}'`);
  if (values['lr-halving'] !== undefined && !c.stepSchedule) throw new UsageError(`--lr-halving: ${c.name}'s REF has no step schedule`);
  const { PRESETS } = await import('../solvers');
  const secondOrder = Object.keys(PRESETS).filter((k) => !PRESETS[k as keyof typeof PRESETS].firstOrder);
  const solvers = values.solvers === undefined ? [...c.solvers] : String(values.solvers).split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of solvers) {
    if (!secondOrder.includes(s)) throw new UsageError(`unknown solver '${s}' in --solvers (second-order presets: ${secondOrder.join(', ')})`);
  }
  if (new Set(solvers).size !== solvers.length) throw new UsageError('--solvers lists a solver twice');
  const backend = values.backend as string | undefined;
  const { BACKEND_NAMES } = await import('../functions/backend');
  if (backend !== undefined && !(BACKEND_NAMES as readonly string[]).includes(backend)) {
    throw new UsageError(`--backend must be one of ${BACKEND_NAMES.join(', ')}, got '${backend}'`);
  }
  await c.run({
    size: size as 'small', out: String(values.out ?? `runs/${c.name}`), solvers: solvers as never, reference,
    refEpochs: values['ref-epochs'] === undefined ? undefined : positiveInt('ref-epochs', values['ref-epochs'] as string, 0),
    halvingEpochs: values['lr-halving'] === undefined ? undefined : positiveInt('lr-halving', values['lr-halving'] as string, 0),
    budget: values.budget === undefined ? undefined : positiveInt('budget', values.budget as string, 0),
    warmupEpochs: nonNegativeInt('warmup-epochs', values['warmup-epochs'] as string | undefined, 0),
    seed: positiveInt('seed', values.seed as string | undefined, 1234),
    data: values.data as string | undefined,
    backend: backend as never, precision: precisionArg(values.precision as string | undefined, backend), plot: !values['no-plot'], progress: !values.quiet,
  });
  return 0;
}
