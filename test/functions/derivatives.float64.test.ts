// The derivative suite in double (issue 14): every case on petscml-float64 against the same
// float64 reference. TOL64 = 1e-12 is ~4,500 u in double (u = 1.1e-16): the reference and the
// engine sum in different orders, through at most a few dozen ops per path.
import { defineDerivativeSuite } from './derivatives.shared';
export const TOL64 = 1e-12;
defineDerivativeSuite('petscml-float64', TOL64);
