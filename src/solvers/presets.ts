/**
 * The paper's five solvers (section 4) and the first-order references, as named sets of PETSc
 * options. Names are relative to the solver's prefix and carry no dash; users override any of them
 * through `cfg` or on the command line (`-tr_tao_ntr_ksp_max_it 50`).
 *
 * Where section 4 gives no number (its text omits several), the choice below is ours:
 * - L-BFGS history 10; Armijo backtracking (TAO's `armijo` line search) for L-BFGS, LS and LS-GN.
 * - LS/LS-GN: TAO `nls`, Steihaug-Toint CG (`stcg`) capped at 100 iterations, preconditioned by
 *   an L-BFGS update (PC `lmvm`, history 5); the CG relative tolerance follows a dynamic forcing
 *   term (see `forcing` below) starting at 0.5.
 * - TR/TR-GN: TAO `ntr`, `stcg` capped at 100 iterations with the same L-BFGS preconditioner;
 *   initial radius 1, maximum radius 10; a step is accepted when actual/predicted reduction
 *   rho >= 1e-4; the radius shrinks by 0.25 when rho < 0.25, stays when 0.25 <= rho < 0.75 and
 *   doubles when rho >= 0.75 (PETSc's 'reduction' update with eta2 = 0.25, eta3 = eta4 = 0.75,
 *   alpha1 = alpha2 = 0.25, alpha3 = 1, alpha4 = alpha5 = 2).
 * - All: gradient tolerances 0, so a run stops on its iteration budget, a failed line search or a
 *   trust region that cannot shrink further (as in the paper).
 */
import type { HessianKind } from '../functions/types';

export type PresetName = 'lbfgs' | 'ls' | 'ls-gn' | 'tr' | 'tr-gn' | 'adam' | 'adamw' | 'sgd';

export interface Preset {
  name: PresetName;
  /** Label used in logs, tables and legends. */
  label: string;
  description: string;
  /** Hessian products the solver needs ('none' for first-order and quasi-Newton methods). */
  hessian: HessianKind | 'none';
  /** True for the stochastic first-order methods that step once per mini-batch. */
  firstOrder: boolean;
  /** Options set under the solver's prefix (user cfg and the command line override them). */
  options: Record<string, string | number | boolean>;
}

const stopOnBudget = { tao_gatol: 0, tao_grtol: 0, tao_gttol: 0 };

function newtonLS(): Record<string, string | number | boolean> {
  return {
    tao_type: 'nls',
    tao_ls_type: 'armijo',
    tao_nls_ksp_type: 'stcg',
    tao_nls_ksp_max_it: 100,
    tao_nls_pc_type: 'lmvm',
    tao_nls_pc_lmvm_mat_lmvm_hist_size: 5,
    petscml_forcing: 'ew',
    petscml_forcing_eta0: 0.5,
    ...stopOnBudget,
  };
}

function trustRegion(): Record<string, string | number | boolean> {
  return {
    tao_type: 'ntr',
    tao_ntr_ksp_type: 'stcg',
    tao_ntr_ksp_max_it: 100,
    tao_ntr_pc_type: 'lmvm',
    tao_ntr_pc_lmvm_mat_lmvm_hist_size: 5,
    tao_trust0: 1,
    tao_ntr_init_type: 'constant',
    tao_ntr_update_type: 'reduction',
    tao_ntr_eta1: 1e-4,
    tao_ntr_eta2: 0.25,
    tao_ntr_eta3: 0.75,
    tao_ntr_eta4: 0.75,
    tao_ntr_alpha1: 0.25,
    tao_ntr_alpha2: 0.25,
    tao_ntr_alpha3: 1,
    tao_ntr_alpha4: 2,
    tao_ntr_alpha5: 2,
    tao_ntr_max_radius: 10,
    ...stopOnBudget,
  };
}

export const PRESETS: Readonly<Record<PresetName, Preset>> = {
  lbfgs: {
    name: 'lbfgs', label: 'L-BFGS', hessian: 'none', firstOrder: false,
    description: 'limited-memory BFGS (TAO lmvm), history 10, Armijo backtracking',
    options: { tao_type: 'lmvm', tao_ls_type: 'armijo', tao_lmvm_mat_lmvm_hist_size: 10, ...stopOnBudget },
  },
  ls: {
    name: 'ls', label: 'LS', hessian: 'exact', firstOrder: false,
    description: 'Newton line search (TAO nls), exact Hessian products, dynamic CG tolerance',
    options: newtonLS(),
  },
  'ls-gn': {
    name: 'ls-gn', label: 'LS-GN', hessian: 'gauss-newton', firstOrder: false,
    description: 'Newton line search (TAO nls), Gauss-Newton products, dynamic CG tolerance',
    options: newtonLS(),
  },
  tr: {
    name: 'tr', label: 'TR', hessian: 'exact', firstOrder: false,
    description: 'Newton trust region (TAO ntr), exact Hessian products, Steihaug-Toint CG',
    options: trustRegion(),
  },
  'tr-gn': {
    name: 'tr-gn', label: 'TR-GN', hessian: 'gauss-newton', firstOrder: false,
    description: 'Newton trust region (TAO ntr), Gauss-Newton products, Steihaug-Toint CG',
    options: trustRegion(),
  },
  adam: {
    name: 'adam', label: 'Adam', hessian: 'none', firstOrder: true,
    description: 'Adam over mini-batches (TAO type adam registered by petscml)',
    options: { tao_type: 'adam', ...stopOnBudget },
  },
  adamw: {
    name: 'adamw', label: 'AdamW', hessian: 'none', firstOrder: true,
    description: 'AdamW, decoupled weight decay, over mini-batches (TAO type adamw)',
    options: { tao_type: 'adamw', ...stopOnBudget },
  },
  sgd: {
    name: 'sgd', label: 'SGD', hessian: 'none', firstOrder: true,
    description: 'SGD with momentum over mini-batches (TAO type sgd)',
    options: { tao_type: 'sgd', ...stopOnBudget },
  },
};


export function presetNames(): PresetName[] {
  return Object.keys(PRESETS) as PresetName[];
}
