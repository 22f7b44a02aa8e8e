/**
 * The collectives the upper layers need (rank, size, allreduce over PETSc's world), handed in by
 * src/petsc when it loads. The function layer and the agreement helpers use this leaf instead of
 * importing src/petsc: models, functions and data know no solver and no PETSc object.
 */
export interface Collective {
  rank(): number;
  size(): number;
  allreduce(values: ArrayLike<number>, op: 'sum' | 'min' | 'max'): Float64Array;
}

let installed: Collective | undefined;

/** Called once by src/petsc/init.ts. */
export function installCollective(c: Collective): void {
  installed = c;
}

/** This process's rank and the world's size. */
export function world(): { rank: number; size: number } {
  const c = collective();
  return { rank: c.rank(), size: c.size() };
}

export function collective(): Collective {
  if (!installed) {
    throw new Error("petscml: no MPI layer is loaded: data-parallel work needs petscml's PETSc bindings (import from 'petscml', which loads them)");
  }
  return installed;
}

export { agreeAcrossRanks, agreeOnFailure, gatherStrings, hash32, vectorFingerprint } from './agree';
