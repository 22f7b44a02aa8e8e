/**
 * Loaders for the array files that the FNO and DeepONet authors publish: MATLAB v5/v7 `.mat`
 * (Burgers), MATLAB v7.3 `.mat` = HDF5 (Navier–Stokes), NumPy `.npy`/`.npz` (advection).
 *
 * Every loader returns arrays in **row-major (C) order with MATLAB's / NumPy's logical shape**, as
 * float64. For MATLAB files this means sample first, as the authors index them (`a[:1000, ::64]`):
 * MATLAB keeps arrays column-major, and MATLAB v7.3 (HDF5) stores that column-major buffer under the
 * reversed shape, so both are transposed here; `u` of `ns_V1e-3_N5000_T50.mat` comes back with shape
 * [5000, 64, 64, 50] although HDF5 lists it as (50, 64, 64, 5000).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Unzlib, unzipSync, unzlibSync } from 'fflate';
import type { ArrayDataset } from '../problems/darcy1d';

/** One array read from a file: row-major float64 values and the logical (MATLAB / NumPy) shape. */
export interface LoadedArray {
  values: Float64Array;
  shape: number[];
}

/** The container formats {@link loadArrays} recognises by their first bytes. */
export type ArrayFileFormat = 'mat5' | 'mat73' | 'npy' | 'npz';

const PREFIX = 'petscml: loadArrays';

function fail(file: string, problem: string, Kind: new (m: string) => Error = Error): never {
  throw new Kind(`${PREFIX}: ${file}: ${problem}`);
}

function product(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/**
 * Reorders column-major (Fortran / MATLAB) data of the given shape into row-major order.
 * Walks the destination sequentially with an odometer so that a 16.7M-element Burgers matrix costs
 * one pass and no index arithmetic per element beyond one add.
 */
export function columnMajorToRowMajor(src: ArrayLike<number>, shape: readonly number[]): Float64Array {
  const n = product(shape);
  const out = new Float64Array(n);
  const k = shape.length;
  if (k <= 1 || n === 0) {
    for (let i = 0; i < n; i++) out[i] = src[i];
    return out;
  }
  const colStride = new Array<number>(k);
  colStride[0] = 1;
  for (let a = 1; a < k; a++) colStride[a] = colStride[a - 1] * shape[a - 1];
  const idx = new Array<number>(k).fill(0);
  const last = k - 1, inner = shape[last], innerStride = colStride[last];
  let base = 0; // source offset of the current row (all indices but the last)
  for (let d = 0; d < n; d += inner) {
    let s = base;
    for (let j = 0; j < inner; j++, s += innerStride) out[d + j] = src[s];
    for (let a = last - 1; a >= 0; a--) {
      idx[a]++;
      base += colStride[a];
      if (idx[a] < shape[a]) break;
      base -= colStride[a] * shape[a];
      idx[a] = 0;
    }
  }
  return out;
}

async function readHead(file: string, bytes: number): Promise<Uint8Array> {
  let handle;
  try {
    handle = await fsp.open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') fail(file, 'no such file');
    fail(file, `cannot be opened (${code ?? (e as Error).message})`);
  }
  try {
    const buf = new Uint8Array(bytes);
    const { bytesRead } = await handle.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function ascii(bytes: Uint8Array, start: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(start, start + length));
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

function hasHdf5Signature(head: Uint8Array, at: number): boolean {
  return HDF5_SIGNATURE.every((b, i) => head[at + i] === b);
}

/**
 * Tells the format from the file's first bytes, never from its name: the authors' `.mat` files are
 * either MATLAB v5 or HDF5 under the same extension.
 */
export async function detectArrayFormat(file: string): Promise<ArrayFileFormat> {
  const head = await readHead(file, 520);
  // MATLAB v7.3 files start with a 512-byte MATLAB text header (the HDF5 user block), so the
  // signature is looked for there as well as at 0; this test comes before the MAT v5 one because
  // that header also begins with "MATLAB".
  if (hasHdf5Signature(head, 0) || hasHdf5Signature(head, 512)) return 'mat73';
  if (ascii(head, 0, 19) === 'MATLAB 5.0 MAT-file') return 'mat5';
  if (head[0] === 0x93 && ascii(head, 1, 5) === 'NUMPY') return 'npy';
  if (ascii(head, 0, 4) === 'PK\x03\x04') return 'npz';
  if (head.length === 0) fail(file, 'the file is empty', RangeError);
  fail(file, 'unknown format (expected a MATLAB .mat, HDF5, NumPy .npy or .npz file)', TypeError);
}

function selectNames(file: string, available: string[], loadable: Map<string, string | null>, names?: string[]): string[] {
  if (names === undefined) return available.filter((n) => loadable.get(n) === null);
  for (const n of names) {
    if (!loadable.has(n)) {
      fail(file, `no variable '${n}' in the file (it holds: ${available.length ? available.join(', ') : 'nothing'})`, RangeError);
    }
    const why = loadable.get(n);
    if (why) fail(file, `variable '${n}' ${why}`, TypeError);
  }
  return names;
}

/**
 * Reads numeric arrays from a MATLAB v5/v7 (`.mat`), MATLAB v7.3 / HDF5, NumPy `.npy` or `.npz` file.
 *
 * The format is detected from the magic bytes. Values come back as float64 in row-major order with
 * the logical shape: MATLAB's for `.mat` files (column-major storage and, for v7.3, HDF5's reversed
 * axes are undone; see the module comment), NumPy's for `.npy`/`.npz` (Fortran-ordered arrays are
 * reordered). A `.npy` file's single array is named after the file (`u.npy` → `u`); `.npz` members
 * lose their `.npy` suffix. Plain HDF5 files without the MATLAB header keep HDF5's (C) shape
 * unless their datasets carry MATLAB's `MATLAB_class` attribute.
 *
 * @param file path of the file
 * @param names variables to return; all numeric ones when omitted (non-numeric ones, such as MATLAB
 *   strings, cells and structs, are then skipped)
 * @throws Error for a missing, truncated or corrupt file; RangeError for a requested name the file
 *   lacks (the message lists the names it has); TypeError for an unknown format, a non-numeric
 *   variable or an unsupported element type (complex, float16, strings, objects)
 */
export async function loadArrays(file: string, names?: string[], options: LoadOptions = {}): Promise<Record<string, LoadedArray>> {
  if (names !== undefined && (!Array.isArray(names) || names.some((n) => typeof n !== 'string'))) {
    throw new TypeError(`${PREFIX}: names: expected an array of strings`);
  }
  if (options === null || typeof options !== 'object') throw new TypeError(`${PREFIX}: options: expected { samples? }`);
  const samples = options.samples;
  if (samples !== undefined && (!Array.isArray(samples) || samples.length === 0 || samples.some((r) => !Array.isArray(r) || r.length !== 2 ||
    !r.every((v) => Number.isInteger(v) && v >= 0) || r[0] >= r[1]))) {
    throw new RangeError(`${PREFIX}: options.samples must be a non-empty list of [start, end) index pairs with 0 <= start < end`);
  }
  const blockBytes = options.blockBytes ?? HDF5_BLOCK_BYTES;
  if (!(Number.isInteger(blockBytes) && blockBytes >= 1)) throw new RangeError(`${PREFIX}: options.blockBytes must be a positive integer, got ${String(options.blockBytes)}`);
  const format = await detectArrayFormat(file);
  if (format === 'mat73') return loadHdf5(file, names, samples, false, blockBytes);
  const all = format === 'mat5' ? await loadMat5(file, names) : format === 'npy' ? await loadNpy(file, names) : await loadNpz(file, names);
  if (samples === undefined) return all;
  const out: Record<string, LoadedArray> = {};
  for (const [name, a] of Object.entries(all)) out[name] = takeSamples(file, name, a, samples);
  return out;
}

export interface LoadOptions {
  /**
   * Only these samples (rows of the first logical axis), as [start, end) ranges, concatenated in
   * order: `[[0, 1000], [4800, 5000]]` is the first 1000 and the last 200 of 5000. HDF5 / v7.3
   * files read just these rows (a hyperslab per block of rows), so a file larger than memory
   * can still be used; the other formats are read whole and cut.
   */
  samples?: [number, number][];
  /** HDF5 bytes read per hyperslab with `samples` (default 64 MiB): bounds the wasm heap. */
  blockBytes?: number;
}

function checkSamples(file: string, name: string, n: number, samples: readonly [number, number][]): number {
  let total = 0;
  for (const [a, b] of samples) {
    if (b > n) fail(file, `variable '${name}' has ${n} samples; the range [${a}, ${b}) is past its end`, RangeError);
    total += b - a;
  }
  return total;
}

function takeSamples(file: string, name: string, a: LoadedArray, samples: readonly [number, number][]): LoadedArray {
  if (a.shape.length === 0) fail(file, `variable '${name}' is a scalar: it has no samples to select`, RangeError);
  const total = checkSamples(file, name, a.shape[0], samples);
  const row = product(a.shape.slice(1));
  const values = new Float64Array(total * row);
  let o = 0;
  for (const [s, e] of samples) {
    values.set(a.values.subarray(s * row, e * row), o);
    o += (e - s) * row;
  }
  return { values, shape: [total, ...a.shape.slice(1)] };
}

/**
 * The logical shapes of a file's numeric arrays, as loadArrays would return them, without
 * reading an HDF5 / v7.3 file's data (the other formats are read).
 */
export async function arrayShapes(file: string, names?: string[]): Promise<Record<string, number[]>> {
  const format = await detectArrayFormat(file);
  const out: Record<string, number[]> = {};
  if (format === 'mat73') {
    const got = await loadHdf5(file, names, undefined, true);
    for (const [k, v] of Object.entries(got)) out[k] = v.shape;
    return out;
  }
  for (const [k, v] of Object.entries(await loadArrays(file, names))) out[k] = v.shape;
  return out;
}

// ---------------------------------------------------------------------------------------------
// A native ESM package (h5wasm) from CommonJS output.

/**
 * tsc's CommonJS output turns `import()` into `require()`, which h5wasm refuses (its exports map
 * has only an "import" condition) and which older Node 20 releases refuse for any ES module. A
 * dynamic import created at run time stays a real one and resolves from this file's location.
 * Hosts that evaluate modules in a vm context without an import callback (vitest's module runner)
 * reject that, and there the literal `import()` below is still an import, handled by the host.
 */
const nativeImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

async function importEsm<T>(specifier: string): Promise<T> {
  try {
    return (await nativeImport(specifier)) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING') throw e;
    return (await import(/* @vite-ignore */ specifier)) as T;
  }
}

// ---------------------------------------------------------------------------------------------
// MATLAB v5 / v7

const MAT_NUMERIC_CLASSES: Record<number, string> = {
  6: 'double', 7: 'single', 8: 'int8', 9: 'uint8', 10: 'int16', 11: 'uint16',
  12: 'int32', 13: 'uint32', 14: 'int64', 15: 'uint64',
};
const MAT_OTHER_CLASSES: Record<number, string> = {
  1: 'cell array', 2: 'struct', 3: 'object', 4: 'char array', 5: 'sparse array', 16: 'function handle', 17: 'opaque object',
};

interface MatElement {
  name: string;
  dims: number[];
  /** null when the element can be read; otherwise why it cannot. */
  unreadable: string | null;
  start: number;
  end: number;
}

/**
 * Walks the top-level elements for their names, classes and dimensions, so that only the requested
 * variables are inflated and decoded, and a truncated file is named as such. (The npm reader
 * mat-for-js was not used: it is GPL-3.0, it scrambles arrays of three or more dimensions in 1.1.0,
 * and it turns 1xn and nx1 into the same 1-D array.)
 */
function scanMat5(file: string, bytes: Uint8Array): MatElement[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 128) fail(file, `truncated MAT-file: ${bytes.length} bytes, shorter than the 128-byte header`);
  const endian = ascii(bytes, 126, 2);
  if (endian === 'MI') fail(file, 'big-endian MAT-files are not supported', TypeError);
  if (endian !== 'IM') fail(file, `corrupt MAT-file header: endian indicator is '${endian}', expected 'IM'`);
  const le = true;
  const elements: MatElement[] = [];
  let off = 128;
  while (off < bytes.length) {
    if (off + 8 > bytes.length) fail(file, `truncated MAT-file: element tag at byte ${off} is cut off`);
    const type = view.getUint32(off, le), nbytes = view.getUint32(off + 4, le);
    const end = off + 8 + nbytes;
    if (end > bytes.length) {
      fail(file, `truncated MAT-file: element at byte ${off} needs ${nbytes} bytes but the file ends after ${bytes.length - off - 8}`);
    }
    let body: Uint8Array;
    if (type === 15) {
      body = inflatePrefix(file, bytes.subarray(off + 8, end), off);
    } else if (type === 14) {
      body = bytes.subarray(off, end);
    } else {
      fail(file, `corrupt MAT-file: top-level element at byte ${off} has type ${type}, expected a matrix (14) or compressed (15)`);
    }
    const el = parseMatrixHeader(file, body, off);
    if (el) elements.push({ ...el, start: off, end });
    // uncompressed elements are padded to 8 bytes; compressed ones are not
    off = type === 14 ? off + 8 + Math.ceil(nbytes / 8) * 8 : end;
    if (type === 14 && off > bytes.length) off = bytes.length;
  }
  return elements;
}

/** Decompresses only the start of a compressed element: enough for its flags, dimensions and name. */
function inflatePrefix(file: string, compressed: Uint8Array, at: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let have = 0;
  const want = 4096;
  const inflater = new Unzlib((chunk) => { chunks.push(chunk); have += chunk.length; });
  try {
    for (let i = 0; i < compressed.length && have < want; i += 1024) {
      const end = Math.min(i + 1024, compressed.length);
      inflater.push(compressed.subarray(i, end), end === compressed.length);
    }
  } catch (e) {
    fail(file, `corrupt MAT-file: compressed element at byte ${at} does not inflate (${(e as Error).message})`);
  }
  const out = new Uint8Array(have);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}

/**
 * Reads the subelements of a miMATRIX element one after another, from just past its 8-byte tag.
 * A tag in the short form packs the byte count into its upper 16 bits and the data into 4 bytes.
 */
function subelements(b: Uint8Array, corrupt: (what: string) => never): () => { type: number; data: Uint8Array } {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = 8;
  return () => {
    if (p + 8 > b.length) corrupt('subelement cut off');
    const word = view.getUint32(p, true);
    let t: number, n: number, start: number, next: number;
    if (word >>> 16 !== 0) {
      t = word & 0xffff; n = word >>> 16; start = p + 4; next = p + 8;
    } else {
      t = word; n = view.getUint32(p + 4, true); start = p + 8; next = start + Math.ceil(n / 8) * 8;
    }
    if (start + n > b.length) corrupt('subelement cut off');
    p = next;
    return { type: t, data: b.subarray(start, start + n) };
  };
}

function parseMatrixHeader(file: string, b: Uint8Array, at: number): Omit<MatElement, 'start' | 'end'> | null {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const corrupt = (what: string): never => fail(file, `corrupt MAT-file: element at byte ${at}: ${what}`);
  if (b.length < 8) corrupt('too short');
  const type = view.getUint32(0, true);
  if (type !== 14) corrupt(`expected a matrix (type 14), found type ${type}`);
  if (view.getUint32(4, true) === 0) return null; // empty placeholder element
  const sub = subelements(b, corrupt);
  const flagsEl = sub();
  if (flagsEl.data.length < 8) corrupt('array flags too short');
  const flags = new DataView(flagsEl.data.buffer, flagsEl.data.byteOffset, 8).getUint32(0, true);
  const mxClass = flags & 0xff, complex = (flags & 0x800) !== 0;
  if (mxClass === 16 || mxClass === 17) {
    // MATLAB's function handles and class objects carry no name that users refer to
    return null;
  }
  const dimsEl = sub();
  const dv = new DataView(dimsEl.data.buffer, dimsEl.data.byteOffset, dimsEl.data.byteLength);
  const dims = Array.from({ length: dimsEl.data.length >> 2 }, (_, i) => dv.getInt32(4 * i, true));
  const name = String.fromCharCode(...sub().data);
  let unreadable: string | null = null;
  if (!(mxClass in MAT_NUMERIC_CLASSES)) {
    unreadable = `is a ${MAT_OTHER_CLASSES[mxClass] ?? `MATLAB class ${mxClass}`}, not a numeric array`;
  } else if (complex) {
    unreadable = `is complex (${MAT_NUMERIC_CLASSES[mxClass]}); complex arrays are not supported`;
  }
  return { name, dims, unreadable };
}

// Bytes per value of each MAT data type that can hold a numeric array's values (MATLAB may store
// a double array in a narrower integer type when its values fit).
const MAT_DATA_TYPES: Record<number, { bytes: number; read: (v: DataView, at: number) => number }> = {
  1: { bytes: 1, read: (v, at) => v.getInt8(at) },
  2: { bytes: 1, read: (v, at) => v.getUint8(at) },
  3: { bytes: 2, read: (v, at) => v.getInt16(at, true) },
  4: { bytes: 2, read: (v, at) => v.getUint16(at, true) },
  5: { bytes: 4, read: (v, at) => v.getInt32(at, true) },
  6: { bytes: 4, read: (v, at) => v.getUint32(at, true) },
  7: { bytes: 4, read: (v, at) => v.getFloat32(at, true) },
  9: { bytes: 8, read: (v, at) => v.getFloat64(at, true) },
  12: { bytes: 8, read: (v, at) => Number(v.getBigInt64(at, true)) },
  13: { bytes: 8, read: (v, at) => Number(v.getBigUint64(at, true)) },
};

/** The real part of one uncompressed miMATRIX element, in MATLAB's column-major storage order. */
function decodeMatrix(file: string, b: Uint8Array, el: MatElement): Float64Array {
  const corrupt = (what: string): never => fail(file, `corrupt MAT-file: variable '${el.name}': ${what}`);
  const sub = subelements(b, corrupt);
  sub(); // array flags
  sub(); // dimensions (taken from the scan)
  sub(); // name
  const stored = sub();
  const real = { type: stored.type, n: stored.data.length, data: new DataView(stored.data.buffer, stored.data.byteOffset, stored.data.length) };
  const kind = MAT_DATA_TYPES[real.type];
  if (!kind) fail(file, `variable '${el.name}' stores its values as MAT data type ${real.type}, which is not supported`, TypeError);
  const count = product(el.dims);
  if (real.n !== count * kind.bytes) corrupt(`${real.n / kind.bytes} values stored, its dimensions ${el.dims.join('x')} need ${count}`);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = kind.read(real.data, i * kind.bytes);
  return out;
}

async function loadMat5(file: string, names?: string[]): Promise<Record<string, LoadedArray>> {
  const bytes = await readAll(file);
  const elements = scanMat5(file, bytes);
  const byName = new Map(elements.map((e) => [e.name, e]));
  const loadable = new Map(elements.map((e) => [e.name, e.unreadable]));
  const wanted = selectNames(file, elements.map((e) => e.name), loadable, names);
  const out: Record<string, LoadedArray> = {};
  for (const name of wanted) {
    const el = byName.get(name)!;
    const shape = el.dims;
    out[name] = { values: columnMajorToRowMajor(decodeMatrix(file, matrixBytes(file, bytes, el), el), shape), shape };
  }
  return out;
}

/** One variable's miMATRIX element, inflated when the file stores it compressed. */
function matrixBytes(file: string, bytes: Uint8Array, el: MatElement): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(el.start, true) !== 15) return bytes.subarray(el.start, el.end);
  try {
    return unzlibSync(bytes.subarray(el.start + 8, el.end));
  } catch (e) {
    fail(file, `corrupt or truncated MAT-file: variable '${el.name}' does not inflate (${(e as Error).message})`);
  }
}

async function readAll(file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await fsp.readFile(file));
  } catch (e) {
    fail(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

// ---------------------------------------------------------------------------------------------
// MATLAB v7.3 / HDF5

type H5Module = typeof import('h5wasm');
let h5Promise: Promise<H5Module> | undefined;

async function h5(): Promise<H5Module> {
  h5Promise ??= (async () => {
    const mod = await importEsm<H5Module & { default?: H5Module }>('h5wasm/node');
    const lib = mod.default ?? mod;
    const module = await lib.ready;
    // HDF5 otherwise prints its error stack to stderr and h5wasm hands back an invalid file id;
    // the throwing handler turns the stack into an exception we can word for the user
    module.activate_throwing_error_handler();
    return lib;
  })();
  return h5Promise;
}

function attrString(ds: { attrs: Record<string, { value: unknown }> }, key: string): string | undefined {
  const a = ds.attrs[key];
  if (!a) return undefined;
  const v = a.value;
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

const MATLAB_NONNUMERIC = new Set(['char', 'cell', 'struct', 'function_handle', 'string']);

/** Rows read per HDF5 hyperslab: bounds the wasm heap (h5wasm copies each read out of it). */
const HDF5_BLOCK_BYTES = 64 * 2 ** 20;

async function loadHdf5(file: string, names?: string[], samples?: readonly [number, number][], shapesOnly = false, blockBytes = HDF5_BLOCK_BYTES): Promise<Record<string, LoadedArray>> {
  const lib = await h5();
  const head = await readHead(file, 520);
  const matlabHeader = hasHdf5Signature(head, 512) && ascii(head, 0, 6) === 'MATLAB';
  let f: InstanceType<H5Module['File']>;
  try {
    f = new lib.File(path.resolve(file), 'r');
  } catch (e) {
    fail(file, `corrupt or truncated HDF5 file (${firstLine(e)})`);
  }
  if (f.file_id < 0n) fail(file, 'corrupt or truncated HDF5 file (HDF5 could not open it)');
  try {
    // MATLAB keeps the targets of cell and object references under these groups; they are not variables
    const keys = f.keys().filter((k) => !k.startsWith('#'));
    const loadable = new Map<string, string | null>();
    const entities = new Map<string, InstanceType<H5Module['Dataset']>>();
    for (const k of keys) {
      const e = f.get(k);
      if (!(e instanceof lib.Dataset)) {
        loadable.set(k, `is an HDF5 ${e instanceof lib.Group ? 'group (a MATLAB struct or object)' : 'link or type'}, not a numeric array`);
        continue;
      }
      entities.set(k, e);
      const cls = attrString(e, 'MATLAB_class');
      const meta = e.metadata;
      if (cls && MATLAB_NONNUMERIC.has(cls)) loadable.set(k, `is a MATLAB ${cls}, not a numeric array`);
      else if (meta.type === 1 && (meta.size === 4 || meta.size === 8)) loadable.set(k, null);
      else if (meta.type === 0 && [1, 2, 4, 8].includes(meta.size)) loadable.set(k, null);
      else if (meta.type === 3 || meta.type === 7 || meta.type === 9) loadable.set(k, `has HDF5 ${['', '', '', 'string', '', '', '', 'reference', '', 'variable-length'][meta.type]} type, not a numeric array`);
      else loadable.set(k, `has an unsupported element type (HDF5 class ${meta.type}, ${meta.size} bytes${meta.type === 6 ? ': compound, e.g. complex' : ''})`);
    }
    const wanted = selectNames(file, keys, loadable, names);
    const out: Record<string, LoadedArray> = {};
    for (const name of wanted) {
      const ds = entities.get(name)!;
      const matlab = matlabHeader || attrString(ds, 'MATLAB_class') !== undefined;
      if (shapesOnly) {
        const h5shape = ds.shape ?? [];
        out[name] = { values: new Float64Array(0), shape: matlab ? [...h5shape].reverse() : [...h5shape] };
        continue;
      }
      if (samples !== undefined) {
        out[name] = readHdf5Samples(file, name, ds, matlab, samples, blockBytes);
        continue;
      }
      let raw: unknown;
      try {
        raw = ds.value;
      } catch (e) {
        fail(file, `corrupt or truncated HDF5 file: variable '${name}' cannot be read (${firstLine(e)})`);
      }
      const h5shape = ds.shape ?? [];
      if (matlab && ds.attrs['MATLAB_empty']) {
        // MATLAB writes an empty array as the vector of its dimensions, flagged MATLAB_empty
        const dims = Array.from(raw as ArrayLike<number | bigint>, Number);
        out[name] = { values: new Float64Array(0), shape: dims };
        continue;
      }
      const src = toNumbers(raw as ArrayLike<number | bigint>);
      if (src.length !== product(h5shape)) fail(file, `corrupt HDF5 file: variable '${name}' has ${src.length} values for shape ${h5shape.join('x')}`);
      if (matlab) {
        // the buffer is MATLAB's column-major array under the reversed shape
        const shape = [...h5shape].reverse();
        out[name] = { values: columnMajorToRowMajor(src, shape), shape };
      } else {
        out[name] = { values: src instanceof Float64Array ? src : Float64Array.from(src), shape: [...h5shape] };
      }
    }
    return out;
  } finally {
    f.close();
  }
}

/**
 * The requested rows of one dataset, block by block. MATLAB's sample axis is HDF5's last (the
 * buffer is column-major under the reversed shape), so a block of rows is a hyperslab over the
 * last axis whose buffer is the column-major array [rows, ...] of that block.
 */
function readHdf5Samples(file: string, name: string, ds: InstanceType<H5Module['Dataset']>,
  matlab: boolean, samples: readonly [number, number][], blockBytes: number): LoadedArray {
  const h5shape = ds.shape ?? [];
  if (h5shape.length === 0) fail(file, `variable '${name}' is a scalar: it has no samples to select`, RangeError);
  const shape = matlab ? [...h5shape].reverse() : [...h5shape];
  const total = checkSamples(file, name, shape[0], samples);
  const rowShape = shape.slice(1);
  const row = product(rowShape);
  const values = new Float64Array(total * row);
  const block = Math.max(1, Math.floor(blockBytes / Math.max(1, row * ds.metadata.size)));
  let o = 0;
  for (const [s, e] of samples) {
    for (let a = s; a < e; a += block) {
      const b = Math.min(e, a + block);
      const ranges: [number, number][] = h5shape.map((n) => [0, n]);
      ranges[matlab ? h5shape.length - 1 : 0] = [a, b];
      let raw: unknown;
      try {
        raw = ds.slice(ranges);
      } catch (err) {
        fail(file, `corrupt or truncated HDF5 file: variable '${name}' rows ${a}..${b - 1} cannot be read (${firstLine(err)})`);
      }
      const src = toNumbers(raw as ArrayLike<number | bigint>);
      if (src.length !== (b - a) * row) fail(file, `corrupt HDF5 file: variable '${name}' rows ${a}..${b - 1} gave ${src.length} values, expected ${(b - a) * row}`);
      values.set(matlab ? columnMajorToRowMajor(src, [b - a, ...rowShape]) : src, o);
      o += (b - a) * row;
    }
  }
  return { values, shape: [total, ...rowShape] };
}

function toNumbers(raw: ArrayLike<number | bigint>): ArrayLike<number> {
  if (raw instanceof BigInt64Array || raw instanceof BigUint64Array) return Float64Array.from(raw as ArrayLike<bigint>, Number);
  return raw as ArrayLike<number>;
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const lines = msg.split('\n').map((l) => l.trim()).filter(Boolean);
  // HDF5's stack lists the outermost call first; the innermost line names the cause
  const cause = lines.filter((l) => /^#\d+/.test(l)).pop();
  return (cause ?? lines[0] ?? 'unknown error').replace(/^#\d+:\s*\S+ line \d+ in /, '');
}

// ---------------------------------------------------------------------------------------------
// NumPy .npy / .npz

interface NpyDtype { bytes: number; read: (v: DataView, off: number, le: boolean) => number }

const NPY_DTYPES: Record<string, NpyDtype> = {
  f8: { bytes: 8, read: (v, o, le) => v.getFloat64(o, le) },
  f4: { bytes: 4, read: (v, o, le) => v.getFloat32(o, le) },
  i8: { bytes: 8, read: (v, o, le) => Number(v.getBigInt64(o, le)) },
  u8: { bytes: 8, read: (v, o, le) => Number(v.getBigUint64(o, le)) },
  i4: { bytes: 4, read: (v, o, le) => v.getInt32(o, le) },
  u4: { bytes: 4, read: (v, o, le) => v.getUint32(o, le) },
  i2: { bytes: 2, read: (v, o, le) => v.getInt16(o, le) },
  u2: { bytes: 2, read: (v, o, le) => v.getUint16(o, le) },
  i1: { bytes: 1, read: (v, o) => v.getInt8(o) },
  u1: { bytes: 1, read: (v, o) => v.getUint8(o) },
  b1: { bytes: 1, read: (v, o) => v.getUint8(o) },
};

/**
 * Parses one `.npy` image (format versions 1, 2 and 3, as documented in numpy.lib.format): a
 * 6-byte magic, the version, a little-endian header length (2 bytes in v1, 4 in v2/v3), then a
 * Python dict literal with 'descr', 'fortran_order' and 'shape'.
 */
export function parseNpy(bytes: Uint8Array, where = '<buffer>'): LoadedArray {
  if (bytes.length < 10 || bytes[0] !== 0x93 || ascii(bytes, 1, 5) !== 'NUMPY') {
    fail(where, bytes.length < 10 ? 'truncated .npy data' : 'not .npy data (no \\x93NUMPY magic)');
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number, start: number;
  if (major === 1) { headerLen = view.getUint16(8, true); start = 10; }
  else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail(where, 'truncated .npy header');
    headerLen = view.getUint32(8, true); start = 12;
  } else fail(where, `.npy format version ${major}.${bytes[7]} is not supported (1, 2 and 3 are)`, TypeError);
  if (start + headerLen > bytes.length) fail(where, 'truncated .npy header');
  const header = major === 3
    ? new TextDecoder('utf-8').decode(bytes.subarray(start, start + headerLen))
    : ascii(bytes, start, headerLen);
  const descrMatch = /'descr'\s*:\s*('([^']*)'|\[)/.exec(header);
  const fortranMatch = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeMatch = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descrMatch || !fortranMatch || !shapeMatch) fail(where, `corrupt .npy header: ${JSON.stringify(header.trim())}`);
  if (descrMatch[2] === undefined) fail(where, 'structured .npy dtypes are not supported', TypeError);
  const descr = descrMatch[2];
  const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr);
  const key = m ? `${m[2]}${m[3]}` : '';
  const dtype = NPY_DTYPES[key];
  if (!m || !dtype) {
    const kind = m?.[2];
    const nonNumeric = kind === 'U' || kind === 'S' || kind === 'O' || kind === 'V' || kind === 'M' || kind === 'm';
    fail(where, `${nonNumeric ? 'non-numeric' : 'unsupported'} .npy dtype '${descr}' (supported: f4, f8, i1-i8, u1-u8, b1)`, TypeError);
  }
  // '=' is native order, which numpy never writes to disk; '|' means byte order does not apply
  const le = m[1] !== '>';
  const shape = shapeMatch[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) fail(where, `corrupt .npy header: shape (${shapeMatch[1]})`);
  const n = product(shape);
  const dataStart = start + headerLen;
  const need = n * dtype.bytes;
  if (bytes.length - dataStart < need) {
    fail(where, `truncated .npy data: shape (${shape.join(', ')}) of ${descr} needs ${need} bytes, ${bytes.length - dataStart} present`);
  }
  const flat = new Float64Array(n);
  if (key === 'f8' && le && (bytes.byteOffset + dataStart) % 8 === 0) {
    flat.set(new Float64Array(bytes.buffer, bytes.byteOffset + dataStart, n));
  } else {
    for (let i = 0, o = dataStart; i < n; i++, o += dtype.bytes) flat[i] = dtype.read(view, o, le);
  }
  const values = fortranMatch[1] === 'True' ? columnMajorToRowMajor(flat, shape) : flat;
  return { values, shape };
}

async function loadNpy(file: string, names?: string[]): Promise<Record<string, LoadedArray>> {
  const name = path.basename(file).replace(/\.npy$/i, '');
  const loadable = new Map([[name, null]]);
  const wanted = selectNames(file, [name], loadable, names);
  const bytes = await readAll(file);
  const arr = parseNpy(bytes, file);
  return wanted.length ? { [name]: arr } : {};
}

async function loadNpz(file: string, names?: string[]): Promise<Record<string, LoadedArray>> {
  const bytes = await readAll(file);
  let listed: string[] = [];
  try {
    // the first pass only lists the members (the filter sees each entry before it is inflated)
    unzipSync(bytes, { filter: (entry) => { listed.push(entry.name); return false; } });
  } catch (e) {
    fail(file, `corrupt or truncated .npz (zip) file (${(e as Error).message})`);
  }
  listed = listed.filter((n) => !n.endsWith('/'));
  const varName = (entry: string): string => entry.replace(/\.npy$/, '');
  const available = listed.map(varName);
  const loadable = new Map(available.map((n) => [n, null]));
  const wanted = selectNames(file, available, loadable, names);
  const wantedSet = new Set(wanted);
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes, { filter: (entry) => wantedSet.has(varName(entry.name)) });
  } catch (e) {
    fail(file, `corrupt .npz (zip) file (${(e as Error).message})`);
  }
  const out: Record<string, LoadedArray> = {};
  for (const [entry, data] of Object.entries(members)) {
    out[varName(entry)] = parseNpy(data, `${file}:${entry}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Training sets

/** An array as {@link loadArrays} returns it, or float32 values of the same layout. */
export interface ArrayLikeInput {
  values: Float64Array | Float32Array;
  shape: number[];
}

/** Which samples and points {@link toDataset} keeps. */
export interface ToDatasetOptions {
  /** First sample row (inclusive); negative counts from the end, as in NumPy. Default 0. */
  first?: number;
  /** End sample row (exclusive); negative counts from the end. Default: the number of samples. */
  last?: number;
  /** Keep every stride-th point of the point axis, starting with the first. Default 1. */
  stride?: number;
}

function as2d(name: string, a: ArrayLikeInput): [number, number] {
  const vals: unknown = a?.values;
  if (!a || !(vals instanceof Float64Array || vals instanceof Float32Array) || !Array.isArray(a.shape)) {
    throw new TypeError(`petscml: toDataset: ${name}: expected { values, shape }`);
  }
  const shape = a.shape.length === 1 ? [a.shape[0], 1] : a.shape;
  if (shape.length !== 2) {
    throw new RangeError(`petscml: toDataset: ${name}: expected a [samples, points] array, got shape [${a.shape.join(', ')}] (reshape it first)`);
  }
  if (product(shape) !== a.values.length) {
    throw new RangeError(`petscml: toDataset: ${name}: shape [${a.shape.join(', ')}] needs ${product(shape)} values, got ${a.values.length}`);
  }
  return [shape[0], shape[1]];
}

/**
 * Builds an {@link ArrayDataset} (float32, [samples, points]) from loaded arrays, keeping the sample
 * rows [first, last) and every `stride`-th point of both x and y. The FNO Burgers split is
 * `toDataset(a, u, { last: 1000, stride: 64 })` for training and `{ first: -200, stride: 64 }` for
 * testing (8192 → 128 points). A 1-D array counts as one point per sample.
 *
 * @throws TypeError for a malformed argument; RangeError for arrays that are not 2-D, whose sample
 *   counts differ, or for an empty or out-of-range selection or a non-positive stride
 */
export function toDataset(x: ArrayLikeInput, y: ArrayLikeInput, options: ToDatasetOptions = {}): ArrayDataset {
  const [nx, sx] = as2d('x', x);
  const [ny, sy] = as2d('y', y);
  if (nx !== ny) throw new RangeError(`petscml: toDataset: x has ${nx} samples but y has ${ny}`);
  const n = nx;
  const int = (key: keyof ToDatasetOptions, v: number | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    if (!Number.isInteger(v)) throw new RangeError(`petscml: toDataset: ${key}: expected an integer, got ${v}`);
    return v;
  };
  const rawFirst = int('first', options.first, 0);
  const rawLast = int('last', options.last, n);
  const stride = int('stride', options.stride, 1);
  if (stride < 1) throw new RangeError(`petscml: toDataset: stride: expected a positive integer, got ${stride}`);
  const first = rawFirst < 0 ? n + rawFirst : rawFirst;
  const last = rawLast < 0 ? n + rawLast : rawLast;
  if (first < 0 || first > n) throw new RangeError(`petscml: toDataset: first ${rawFirst} is outside [${-n}, ${n}] for ${n} samples`);
  if (last < 0 || last > n) throw new RangeError(`petscml: toDataset: last ${rawLast} is outside [${-n}, ${n}] for ${n} samples`);
  if (last <= first) throw new RangeError(`petscml: toDataset: rows [${first}, ${last}) select no samples`);
  const pick = (a: ArrayLikeInput, s: number): { values: Float32Array; shape: [number, number] } => {
    const points = Math.ceil(s / stride);
    const rows = last - first;
    const out = new Float32Array(rows * points);
    for (let r = 0; r < rows; r++) {
      const src = (first + r) * s;
      for (let j = 0; j < points; j++) out[r * points + j] = a.values[src + j * stride];
    }
    return { values: out, shape: [rows, points] };
  };
  return { x: pick(x, sx), y: pick(y, sy) };
}
