import { defineDerivativeSuite } from './derivatives.shared';
// wasm is the default backend here, with petscml's own Tanh kernel (through sigmoid).
defineDerivativeSuite('wasm');
