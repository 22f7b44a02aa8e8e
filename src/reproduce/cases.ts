/**
 * The paper's cases by name, as `petscml reproduce <case>` runs them. Every case takes the same
 * options (ReproduceOptions); each says which references it offers and which solvers it runs by
 * default, and refuses what it does not support by name.
 */
import type { PresetName } from '../solvers';
import type { CommonCaseOptions, CaseRun, Headline } from './compare';

export type CaseSize = 'tiny' | 'small' | 'paper';

export interface ReproduceOptions extends CommonCaseOptions {
  /** tiny (seconds, for tests), small (default, minutes on 2 cores) or paper (the paper's sizes). */
  size?: CaseSize;
  /** Second-order presets run after REF (default: the case's). */
  solvers?: readonly PresetName[];
  /** One of the case's references (default: the case's first). */
  reference?: string;
  /** REF's epochs (default: the size's). */
  refEpochs?: number;
  /** REF's step schedule: the learning rate changes every this many epochs (default: the size's). */
  halvingEpochs?: number;
  /** The authors' data file instead of generated data (the case says which variables it reads). */
  data?: string;
}

export interface CaseResult {
  runs: CaseRun[];
  headline: Headline;
  files: string[];
  parameters: number;
}

export interface ReproduceCase {
  name: string;
  /** One line for the command's help. */
  summary: string;
  /** The help paragraph: what is generated, trained and compared, and the sizes. */
  help: string;
  /** REF variants, the default first. */
  references: readonly string[];
  /** The default solvers after REF. */
  solvers: readonly PresetName[];
  /** Whether --lr-halving means something for this case's REF. */
  stepSchedule: boolean;
  run(opts: ReproduceOptions): Promise<CaseResult>;
}

const registry = new Map<string, () => Promise<ReproduceCase>>();

/** Cases load on demand: each pulls in its own model and generator. */
export function registerCase(name: string, load: () => Promise<ReproduceCase>): void {
  registry.set(name, load);
}

export function caseNames(): string[] {
  return [...registry.keys()];
}

export async function loadCase(name: string): Promise<ReproduceCase | undefined> {
  const load = registry.get(name);
  return load ? load() : undefined;
}

registerCase('burgers', async () => (await import('./burgers')).BURGERS_CASE);
registerCase('navier-stokes', async () => (await import('./navier-stokes')).NAVIER_STOKES_CASE);
registerCase('diffusion-reaction', async () => (await import('./diffusion-reaction')).DIFFUSION_REACTION_CASE);
registerCase('advection-1', async () => (await import('./advection')).ADVECTION_1_CASE);
registerCase('advection-2', async () => (await import('./advection')).ADVECTION_2_CASE);
registerCase('greenlearning', async () => (await import('./greenlearning')).GREENLEARNING_CASE);
