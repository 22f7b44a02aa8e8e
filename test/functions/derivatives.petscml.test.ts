import { defineDerivativeSuite } from './derivatives.shared';
defineDerivativeSuite('petscml');
