import { defineDerivativeSuite } from './derivatives.shared';
defineDerivativeSuite('cpu');
