/**
 * Writers of the authors' file formats, by hand from a known row-major array, for the loader and
 * reproduce tests: MAT v5/v7 (after the MathWorks "MAT-File Format" document), MATLAB v7.3 (HDF5
 * through h5wasm) and NumPy .npy (numpy.lib.format).
 */
import * as fs from 'node:fs';
import { zlibSync } from 'fflate';

/** Row-major → column-major, the inverse of what the loaders undo. */
export function toColumnMajor(rowMajor: ArrayLike<number>, shape: number[]): Float64Array {
  const n = rowMajor.length, k = shape.length, out = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let rem = r, c = 0, stride = 1;
    const idx = new Array<number>(k);
    for (let a = k - 1; a >= 0; a--) { idx[a] = rem % shape[a]; rem = Math.floor(rem / shape[a]); }
    for (let a = 0; a < k; a++) { c += idx[a] * stride; stride *= shape[a]; }
    out[c] = rowMajor[r];
  }
  return out;
}

// ---- a tiny MAT v5 writer (little-endian), after the MathWorks "MAT-File Format" document

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function subelement(type: number, data: Uint8Array): Uint8Array {
  // MATLAB packs elements of at most 4 bytes into the short form, as it does for short names
  if (data.length <= 4) {
    const b = new Uint8Array(8), v = new DataView(b.buffer);
    v.setUint32(0, (data.length << 16) | type, true);
    b.set(data, 4);
    return b;
  }
  const padded = Math.ceil(data.length / 8) * 8;
  const b = new Uint8Array(8 + padded), v = new DataView(b.buffer);
  v.setUint32(0, type, true);
  v.setUint32(4, data.length, true);
  b.set(data, 8);
  return b;
}

const u32 = (...xs: number[]) => new Uint8Array(Uint32Array.from(xs).buffer);
const i32 = (...xs: number[]) => new Uint8Array(Int32Array.from(xs).buffer);

export interface MatVar { name: string; shape: number[]; rowMajor?: Float64Array; chars?: string; complex?: boolean }

function matMatrix(v: MatVar): Uint8Array {
  const mxClass = v.chars !== undefined ? 4 : 6; // mxCHAR_CLASS or mxDOUBLE_CLASS
  const flags = mxClass | (v.complex ? 0x800 : 0);
  const parts = [
    subelement(6, u32(flags, 0)),
    subelement(5, i32(...v.shape)),
    subelement(1, new TextEncoder().encode(v.name)),
  ];
  if (v.chars !== undefined) {
    parts.push(subelement(4, new Uint8Array(Uint16Array.from(v.chars, (c) => c.charCodeAt(0)).buffer)));
  } else {
    const col = toColumnMajor(v.rowMajor!, v.shape);
    parts.push(subelement(9, new Uint8Array(col.buffer)));
    if (v.complex) parts.push(subelement(9, new Uint8Array(col.buffer)));
  }
  const body = concat(parts);
  return concat([u32(14, body.length), body]);
}

export function matHeader(text: string): Uint8Array {
  const h = new Uint8Array(128).fill(0x20);
  h.set(new TextEncoder().encode(text).subarray(0, 116));
  h.fill(0, 116, 124);
  h[124] = 0x00; h[125] = 0x01; // version 0x0100, little-endian
  h[126] = 0x49; h[127] = 0x4d; // 'IM'
  return h;
}

/** Writes a MAT v5 file (v7 with `compress`: every variable in a miCOMPRESSED element) at `p`. */
export function writeMat5(p: string, vars: MatVar[], compress: boolean): string {
  const elements = vars.map((v) => {
    const m = matMatrix(v);
    if (!compress) return m;
    const z = zlibSync(m);
    return concat([u32(15, z.length), z]);
  });
  fs.writeFileSync(p, concat([matHeader('MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: petscml test'), ...elements]));
  return p;
}

// ---- .npy by hand (numpy.lib.format)

export function npy(opts: { descr: string; shape: number[]; fortran?: boolean; version?: 1 | 2; rowMajor: ArrayLike<number> }): Uint8Array {
  const { descr, shape, fortran = false, version = 1 } = opts;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const pre = version === 1 ? 10 : 12;
  header += ' '.repeat(64 - ((pre + header.length + 1) % 64)) + '\n';
  const head = new Uint8Array(pre + header.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const hv = new DataView(head.buffer);
  if (version === 1) hv.setUint16(8, header.length, true); else hv.setUint32(8, header.length, true);
  head.set(new TextEncoder().encode(header), pre);
  const src = fortran ? toColumnMajor(opts.rowMajor, shape) : Float64Array.from(opts.rowMajor);
  const le = descr[0] !== '>';
  const kind = descr.slice(1);
  const size = Number(kind.slice(1));
  const data = new Uint8Array(src.length * size), dv = new DataView(data.buffer);
  src.forEach((x, i) => {
    const o = i * size;
    if (kind === 'f8') dv.setFloat64(o, x, le);
    else if (kind === 'f4') dv.setFloat32(o, x, le);
    else if (kind === 'i4') dv.setInt32(o, x, le);
    else if (kind === 'i8') dv.setBigInt64(o, BigInt(x), le);
    else if (kind === 'c16') { dv.setFloat64(o, x, le); dv.setFloat64(o + 8, 0, le); }
    else throw new Error(kind);
  });
  return concat([head, data]);
}


/** A float64 C-order .npy of `values` with `shape`. */
export function npyF8(values: ArrayLike<number>, shape: number[]): Uint8Array {
  return npy({ descr: '<f8', shape, rowMajor: values });
}

/** Writes MATLAB v7.3 (HDF5, MATLAB's 512-byte header unless withHeader is false) at `p`. */
export async function writeMat73(p: string, vars: { name: string; shape: number[]; rowMajor?: Float64Array; chars?: string }[], withHeader = true): Promise<string> {
  const h5 = await import('h5wasm/node');
  await h5.ready;
  const raw = `${p}.raw.h5`;
  const f = new h5.File(raw, 'w');
  for (const v of vars) {
    // MATLAB hands HDF5 its column-major buffer with the dimensions listed last-first (h5py shows
    // `u` of the Navier–Stokes file as (50, 64, 64, 5000))
    const h5shape = [...v.shape].reverse();
    const ds = v.chars !== undefined
      ? f.create_dataset({ name: v.name, data: Uint16Array.from(v.chars, (c) => c.charCodeAt(0)), shape: h5shape, dtype: '<H' })
      : f.create_dataset({ name: v.name, data: toColumnMajor(v.rowMajor!, v.shape), shape: h5shape, dtype: '<d' });
    ds.create_attribute('MATLAB_class', v.chars !== undefined ? 'char' : 'double');
  }
  f.close();
  const body = fs.readFileSync(raw);
  fs.rmSync(raw);
  if (withHeader) {
    const header = new Uint8Array(512);
    header.set(new TextEncoder().encode('MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: petscml test HDF5 schema 1.00 .'));
    header[124] = 0x00; header[125] = 0x02; header[126] = 0x49; header[127] = 0x4d;
    fs.writeFileSync(p, concat([header, body]));
  } else {
    fs.writeFileSync(p, body);
  }
  return p;
}
