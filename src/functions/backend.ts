/**
 * Choosing the tfjs backend.
 *
 * Preference: tfjs-node-gpu > tfjs-node > petscml > wasm > cpu. petscml is this package's own
 * engine (src/engine: the cpu backend with its hot kernels native, on OpenBLAS). tfjs-node(-gpu) are optional peer
 * dependencies that cannot install on every machine (their install script downloads
 * libtensorflow), so they are only ever `require`d at run time and a missing one is not an error.
 * The choice can be forced by the `backend` option or the PETSCML_BACKEND environment variable
 * (the option wins), and is printed once to stderr.
 */
import * as tf from '@tensorflow/tfjs';
import { registerPetscmlBackend, blasCore, BACKEND_NAME_FLOAT64 } from '../engine';
import { native } from '../native';

// tfjs's cpu backend prints an advert for tfjs-node on its first tensor, which every script that
// builds a model before choosing a backend would show, even though petscml chooses the backend
// itself and says which (and tfjs-node may not be installable). Only that one message is muted: when
// no backend is chosen yet, the engine is given the one it would pick anyway in Node (cpu; wasm
// needs an asynchronous start), marked as used.
if (!tf.engine().backendName) {
  void tf.setBackend('cpu');
  const cpu = tf.engine().backend as unknown as { firstUse?: boolean };
  if (typeof cpu.firstUse === 'boolean') cpu.firstUse = false;
}

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'petscml' | 'petscml-float64' | 'wasm' | 'cpu';

export interface BackendOptions {
  /** Forces a backend; 'auto' (default) takes the fastest installed one. */
  backend?: BackendName | 'auto';
  /** Suppresses the one-line report on stderr. */
  quiet?: boolean;
}

export interface BackendChoice {
  /** The name tfjs knows the active backend by ('tensorflow', 'wasm', 'cpu'). */
  readonly tfjsName: string;
  readonly name: BackendName;
  /** Why the preferred ones were skipped, for the report. */
  readonly skipped: readonly string[];
}

/** Every backend name: those 'auto' chooses from, in its order of preference, then petscml-float64. */
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'petscml', 'wasm', 'cpu', 'petscml-float64'];
/** 'auto' never picks float64: it is chosen by name, or by `precision: 'float64'`. */
const ORDER: readonly BackendName[] = BACKEND_NAMES.filter((n) => n !== 'petscml-float64');
const PACKAGE: Record<BackendName, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  petscml: 'petscml (its native addon)',
  'petscml-float64': 'petscml (its native addon)',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

let chosen: BackendChoice | undefined;
let pending: Promise<BackendChoice> | undefined;
let reported = false;

function parseName(value: string, source: string): BackendName | 'auto' {
  const v = value.trim().toLowerCase();
  const aliases: Record<string, BackendName | 'auto'> = {
    auto: 'auto', '': 'auto',
    'tensorflow-gpu': 'tensorflow-gpu', 'node-gpu': 'tensorflow-gpu', 'tfjs-node-gpu': 'tensorflow-gpu', gpu: 'tensorflow-gpu',
    tensorflow: 'tensorflow', node: 'tensorflow', 'tfjs-node': 'tensorflow',
    petscml: 'petscml', native: 'petscml', openblas: 'petscml',
    'petscml-float64': 'petscml-float64', float64: 'petscml-float64', 'native-float64': 'petscml-float64',
    wasm: 'wasm', cpu: 'cpu',
  };
  const name = aliases[v];
  if (name === undefined) {
    throw new Error(`${source}: unknown tfjs backend '${value}'; expected one of auto, ${BACKEND_NAMES.join(', ')}`);
  }
  return name;
}

/** Loads the package behind a backend, registering it with tfjs; returns false when it is absent. */
function load(name: BackendName, skipped: string[]): boolean {
  if (name === 'cpu') return true; // bundled with @tensorflow/tfjs
  try {
    if (name === 'petscml' || name === 'petscml-float64') {
      native(); // the addon: its absence is the reason to skip
      registerPetscmlBackend();
      return true;
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(PACKAGE[name]);
    return true;
  } catch (e) {
    skipped.push(`${PACKAGE[name]} not loadable (${(e as Error).message.split('\n')[0]})`);
    return false;
  }
}

async function activate(name: BackendName, skipped: string[]): Promise<boolean> {
  if (!load(name, skipped)) return false;
  // tfjs-node-gpu registers itself under the same name as tfjs-node.
  const tfjsName = name === 'tensorflow-gpu' ? 'tensorflow' : name;
  try {
    const ok = await tf.setBackend(tfjsName);
    await tf.ready();
    if (!ok || tf.getBackend() !== tfjsName) {
      skipped.push(`${tfjsName} failed to initialize`);
      return false;
    }
    return true;
  } catch (e) {
    skipped.push(`${tfjsName} failed to initialize (${(e as Error).message})`);
    return false;
  }
}

/**
 * Initializes the backend once per process (later calls return the first choice unless a
 * different backend is forced explicitly).
 */
export async function initBackend(options: BackendOptions = {}): Promise<BackendChoice> {
  const fromEnv = process.env.PETSCML_BACKEND;
  const requested = options.backend !== undefined
    ? parseName(options.backend, 'backend option')
    : fromEnv !== undefined ? parseName(fromEnv, 'PETSCML_BACKEND') : 'auto';
  if (chosen && (requested === 'auto' || requested === chosen.name)) return chosen;
  if (pending && requested === 'auto') return pending;
  pending = (async () => {
    const skipped: string[] = [];
    const candidates = requested === 'auto' ? ORDER : [requested];
    for (const name of candidates) {
      if (await activate(name, skipped)) {
        chosen = { name, tfjsName: tf.getBackend(), skipped };
        if (!options.quiet && !reported) {
          reported = true;
          const blas = name.startsWith('petscml') ? blasCore() : null;
          process.stderr.write(`petscml: tfjs backend ${name}${blas ? ` (OpenBLAS ${blas} kernels)` : ''}` +
            `${skipped.length && requested === 'auto' ? ` (skipped: ${skipped.join('; ')})` : ''}\n`);
        }
        return chosen;
      }
    }
    throw new Error(`petscml: tfjs backend '${requested}' is not available: ${skipped.join('; ')}` +
      (requested === 'tensorflow' || requested === 'tensorflow-gpu'
        ? `. Install ${PACKAGE[requested]} on a machine that can download libtensorflow, or use wasm.` : ''));
  })();
  try {
    return await pending;
  } finally {
    pending = undefined;
  }
}

/** Whether tfjs's active backend computes float32-dtype tensors in double (petscml-float64). */
export function isFloat64Backend(): boolean {
  return tf.getBackend() === BACKEND_NAME_FLOAT64;
}

/**
 * A float32-dtype tensor holding `values`, in double on petscml-float64. tf.tensor (and every op
 * given a number, as in tf.mul(x, 0.5)) rounds values to float32 before the backend sees them;
 * the engine's makeTensor passes them through. On the other backends this is tf.tensor.
 */
export function exactTensor(values: ArrayLike<number>, shape: number[]): tf.Tensor {
  // Always a copy: the backend keeps the array it is given, and the caller's may change later.
  if (!isFloat64Backend()) return tf.tensor(Float32Array.from(values), shape, 'float32');
  return tf.engine().makeTensor(Float64Array.from(values) as unknown as Float32Array, shape, 'float32') as tf.Tensor;
}

/** A constant for an op, exact in double on petscml-float64 (see exactTensor). */
export function exactScalar(value: number): tf.Scalar {
  return exactTensor([value], []) as tf.Scalar;
}

/** The backend chosen so far, if any. */
export function currentBackend(): BackendChoice | undefined {
  return chosen;
}
