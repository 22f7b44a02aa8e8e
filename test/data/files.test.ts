import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrayShapes, columnMajorToRowMajor, detectArrayFormat, loadArrays, toDataset } from '../../src';
import { matHeader, npy, writeMat5 as writeMat5At, writeMat73 as writeMat73At, type MatVar } from '../support/array-files';

// Every fixture is written here, by hand, from a known row-major array, so a loader that mixes up
// row- and column-major order (or HDF5's reversed axes) gets the values wrong, not just the shape.

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'petscml-files-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });
const file = (name: string) => path.join(dir, name);
const writeMat5 = (name: string, vars: MatVar[], compress: boolean) => writeMat5At(file(name), vars, compress);
const writeMat73 = (name: string, vars: Parameters<typeof writeMat73At>[1], withHeader = true) => writeMat73At(file(name), vars, withHeader);

/** Row-major test data: element at flat index i is (i + 1) * 0.5, distinct and exact in float32. */
function ramp(shape: number[]): Float64Array {
  return Float64Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => (i + 1) * 0.5);
}

function halve(p: string, name: string): string {
  const b = fs.readFileSync(p);
  const q = file(name);
  fs.writeFileSync(q, b.subarray(0, b.length >> 1));
  return q;
}

// ---- MATLAB v7.3: HDF5 with a 512-byte MATLAB header, written with h5wasm

describe('MATLAB v5/v7 .mat (mat-for-js)', () => {
  const aShape = [6, 16], uShape = [6, 16], cubeShape = [2, 3, 4];
  const a = ramp(aShape), u = ramp(uShape).map((x) => -x), cube = ramp(cubeShape);
  const vars: MatVar[] = [
    { name: 'a', shape: aShape, rowMajor: a },
    { name: 'u', shape: uShape, rowMajor: u },
    { name: 'cube', shape: cubeShape, rowMajor: cube },
    { name: 'row', shape: [1, 5], rowMajor: ramp([5]) },
    { name: 'col', shape: [5, 1], rowMajor: ramp([5]) },
    { name: 'label', shape: [1, 5], chars: 'hello' },
  ];

  for (const compress of [false, true]) {
    it(`reads Burgers-style a and u ${compress ? 'from compressed (miCOMPRESSED, v7)' : 'uncompressed (v5)'} elements, row-major with MATLAB's shape`, async () => {
      const p = writeMat5(`burgers${compress ? 'z' : ''}.mat`, vars, compress);
      expect(await detectArrayFormat(p)).toBe('mat5');
      const got = await loadArrays(p);
      // the char array is not numeric, so it is left out when no names are given
      expect(Object.keys(got)).toEqual(['a', 'u', 'cube', 'row', 'col']);
      expect(got.a).toEqual({ values: a, shape: aShape });
      expect(got.u).toEqual({ values: u, shape: uShape });
      expect(got.cube).toEqual({ values: cube, shape: cubeShape });
      // the orientation of vectors survives (mat-for-js alone turns both into 1-D arrays)
      expect(got.row.shape).toEqual([1, 5]);
      expect(got.col.shape).toEqual([5, 1]);
      const only = await loadArrays(p, ['u']);
      expect(Object.keys(only)).toEqual(['u']);
      expect(only.u.values[1]).toBe(u[1]); // u(1,2) in MATLAB
    });
  }

  it('names a missing, non-numeric or complex variable and a truncated file', async () => {
    const p = writeMat5('errors.mat', [...vars, { name: 'z', shape: [2, 2], rowMajor: ramp([4]), complex: true }], false);
    await expect(loadArrays(p, ['a', 'nope'])).rejects.toThrow(RangeError);
    await expect(loadArrays(p, ['nope'])).rejects.toThrow(`${p}: no variable 'nope' in the file (it holds: a, u, cube, row, col, label, z)`);
    await expect(loadArrays(p, ['label'])).rejects.toThrow(TypeError);
    await expect(loadArrays(p, ['label'])).rejects.toThrow(/variable 'label' is a char array, not a numeric array/);
    await expect(loadArrays(p, ['z'])).rejects.toThrow(/variable 'z' is complex \(double\); complex arrays are not supported/);
    await expect(loadArrays(halve(p, 'half.mat'))).rejects.toThrow(/half\.mat: truncated MAT-file/);
    const pz = writeMat5('errorsz.mat', vars, true);
    await expect(loadArrays(halve(pz, 'halfz.mat'))).rejects.toThrow(/halfz\.mat: truncated MAT-file/);
    // a header only is a valid, empty file
    const empty = file('empty.mat');
    fs.writeFileSync(empty, matHeader('MATLAB 5.0 MAT-file'));
    expect(await loadArrays(empty)).toEqual({});
  });
});

describe('MATLAB v7.3 .mat (HDF5 via h5wasm)', () => {
  // the Navier–Stokes file holds u as 5000×64×64×50 (sample, x, y, t); this is the same layout, small
  const uShape = [4, 3, 2, 5], tShape = [1, 5];
  const u = ramp(uShape), t = Float64Array.from([1, 2, 3, 4, 5]);

  it('undoes HDF5\'s reversed axes: u comes back [samples, x, y, t], row-major', async () => {
    const p = await writeMat73('ns.mat', [
      { name: 'u', shape: uShape, rowMajor: u },
      { name: 't', shape: tShape, rowMajor: t },
      { name: 'note', shape: [1, 3], chars: 'abc' },
    ]);
    expect(await detectArrayFormat(p)).toBe('mat73');
    const got = await loadArrays(p);
    expect(Object.keys(got).sort()).toEqual(['t', 'u']);
    expect(got.u.shape).toEqual(uShape);
    expect(got.u.values).toEqual(u);
    // u(2,3,1,4) in MATLAB (1-based) is row-major index ((1*3 + 2)*2 + 0)*5 + 3
    expect(got.u.values[((1 * 3 + 2) * 2 + 0) * 5 + 3]).toBe(u[53]);
    expect(got.t).toEqual({ values: t, shape: tShape });
    await expect(loadArrays(p, ['a'])).rejects.toThrow(/no variable 'a' in the file \(it holds: (note, t, u|[a-z, ]+)\)/);
    await expect(loadArrays(p, ['note'])).rejects.toThrow(/variable 'note' is a MATLAB char, not a numeric array/);
    await expect(loadArrays(halve(p, 'ns-half.mat'))).rejects.toThrow(/ns-half\.mat: corrupt or truncated HDF5 file/);
  });

  it('a bare HDF5 file with MATLAB_class attributes is read the same way', async () => {
    const p = await writeMat73('bare.h5', [{ name: 'u', shape: uShape, rowMajor: u }], false);
    const got = await loadArrays(p, ['u']);
    expect(got.u).toEqual({ values: u, shape: uShape });
  });
});

describe('loadArrays samples: only some rows', () => {
  const uShape = [7, 3, 2, 5];
  const u = ramp(uShape);
  const row = 3 * 2 * 5;
  const rows = (ranges: [number, number][]) => {
    const parts = ranges.map(([a, b]) => u.subarray(a * row, b * row));
    return Float64Array.from(parts.flatMap((p) => Array.from(p)));
  };
  const ranges: [number, number][] = [[0, 3], [5, 7]];

  it('reads first and last rows of a v7.3 file by hyperslabs, in blocks of any size, and the shapes without the data', async () => {
    const p = await writeMat73('rows.mat', [{ name: 'u', shape: uShape, rowMajor: u }, { name: 't', shape: [1, 5], rowMajor: ramp([5]) }]);
    expect(await arrayShapes(p)).toEqual({ u: uShape, t: [1, 5] });
    for (const blockBytes of [1, 8 * row * 2, 64 * 2 ** 20]) {
      // 1 byte: one row per hyperslab; 2 rows; all at once
      const got = await loadArrays(p, ['u'], { samples: ranges, blockBytes });
      expect(got.u.shape).toEqual([5, 3, 2, 5]);
      expect(got.u.values).toEqual(rows(ranges));
    }
    await expect(loadArrays(p, ['u'], { samples: [[5, 8]] })).rejects.toThrow(/variable 'u' has 7 samples; the range \[5, 8\) is past its end/);
  });

  it('reads rows of a plain HDF5 file (C order, samples first)', async () => {
    const h5 = await import('h5wasm/node');
    await h5.ready;
    const p = file('plain.h5');
    const f = new h5.File(p, 'w');
    f.create_dataset({ name: 'u', data: u, shape: uShape, dtype: '<d' });
    f.close();
    const got = await loadArrays(p, ['u'], { samples: ranges, blockBytes: row * 8 });
    expect(got.u).toEqual({ values: rows(ranges), shape: [5, 3, 2, 5] });
  });

  it('cuts the same rows from MAT v5 and .npz files, and refuses bad ranges', async () => {
    const m = writeMat5('rows5.mat', [{ name: 'u', shape: uShape, rowMajor: u }], true);
    expect((await loadArrays(m, ['u'], { samples: ranges })).u).toEqual({ values: rows(ranges), shape: [5, 3, 2, 5] });
    const z = file('rows.npz');
    fs.writeFileSync(z, zipSync({ 'u.npy': npy({ descr: '<f8', shape: uShape, rowMajor: u }) }));
    expect((await loadArrays(z, ['u'], { samples: [[6, 7]] })).u).toEqual({ values: rows([[6, 7]]), shape: [1, 3, 2, 5] });
    expect(await arrayShapes(z)).toEqual({ u: uShape });
    for (const bad of [[], [[2, 2]], [[-1, 2]], [[0, 1.5]], [[0]]]) {
      await expect(loadArrays(z, ['u'], { samples: bad as never })).rejects.toThrow(/options.samples must be a non-empty list of \[start, end\) index pairs/);
    }
    await expect(loadArrays(z, ['u'], { samples: [[0, 1]], blockBytes: 0 })).rejects.toThrow(/blockBytes must be a positive integer/);
  });
});

describe('NumPy .npy and .npz', () => {
  const shape = [3, 4, 5], v = ramp(shape);

  it('reads C- and Fortran-ordered f8/f4/i4/i8 arrays in either byte order and header versions 1 and 2', async () => {
    const cases: [string, Parameters<typeof npy>[0]][] = [
      ['c_f8.npy', { descr: '<f8', shape, rowMajor: v }],
      ['f_f8.npy', { descr: '<f8', shape, fortran: true, rowMajor: v }],
      ['c_f4_be.npy', { descr: '>f4', shape, rowMajor: v }],
      ['f_f4.npy', { descr: '<f4', shape, fortran: true, version: 2, rowMajor: v }],
      ['c_i4.npy', { descr: '<i4', shape, rowMajor: v.map((x) => 2 * x - 30) }],
      ['f_i8_be.npy', { descr: '>i8', shape, fortran: true, rowMajor: v.map((x) => 2 * x) }],
    ];
    for (const [name, opts] of cases) {
      const p = file(name);
      fs.writeFileSync(p, npy(opts));
      expect(await detectArrayFormat(p)).toBe('npy');
      const key = name.replace('.npy', '');
      const got = await loadArrays(p);
      expect(Object.keys(got)).toEqual([key]);
      expect(got[key].shape).toEqual(shape);
      expect(Array.from(got[key].values)).toEqual(Array.from(opts.rowMajor));
    }
  });

  it('reads the advection train.npz members x, t, u from stored and deflated entries', async () => {
    const x = ramp([4, 4]), tt = ramp([4, 4]).map((q) => q / 10), u = ramp([3, 4, 4]);
    const p = file('train.npz');
    fs.writeFileSync(p, zipSync({
      'x.npy': [npy({ descr: '<f8', shape: [4, 4], rowMajor: x }), { level: 0 }],
      't.npy': [npy({ descr: '<f8', shape: [4, 4], rowMajor: tt, fortran: true }), { level: 6 }],
      'u.npy': [npy({ descr: '<f8', shape: [3, 4, 4], rowMajor: u }), { level: 9 }],
    }));
    expect(await detectArrayFormat(p)).toBe('npz');
    const got = await loadArrays(p);
    expect(Object.keys(got).sort()).toEqual(['t', 'u', 'x']);
    expect(got.x).toEqual({ values: x, shape: [4, 4] });
    expect(got.t).toEqual({ values: tt, shape: [4, 4] });
    expect(got.u).toEqual({ values: u, shape: [3, 4, 4] });
    expect(Object.keys(await loadArrays(p, ['u']))).toEqual(['u']);
    await expect(loadArrays(p, ['y'])).rejects.toThrow(/train\.npz: no variable 'y' in the file \(it holds: x, t, u\)/);
    await expect(loadArrays(halve(p, 'train-half.npz'))).rejects.toThrow(/train-half\.npz: corrupt or truncated \.npz/);
  });

  it('rejects unsupported and non-numeric dtypes and truncated data', async () => {
    const c = file('c16.npy');
    fs.writeFileSync(c, npy({ descr: '<c16', shape: [2], rowMajor: [1, 2] }));
    await expect(loadArrays(c)).rejects.toThrow(TypeError);
    await expect(loadArrays(c)).rejects.toThrow(/c16\.npy: unsupported \.npy dtype '<c16'/);
    const s = file('str.npy');
    const str = npy({ descr: '<f8', shape: [2], rowMajor: [1, 2] });
    const at = Buffer.from(str).indexOf("'<f8'");
    str.set(new TextEncoder().encode("'<U2'"), at); // numpy's unicode strings, same header length
    fs.writeFileSync(s, str);
    await expect(loadArrays(s)).rejects.toThrow(/str\.npy: non-numeric \.npy dtype '<U2'/);
    const big = file('big.npy');
    fs.writeFileSync(big, npy({ descr: '<f8', shape: [64, 8], rowMajor: ramp([512]) }));
    await expect(loadArrays(halve(big, 'big-half.npy'))).rejects.toThrow(/big-half\.npy: truncated \.npy data: shape \(64, 8\) of <f8 needs 4096 bytes/);
    await expect(loadArrays(big, ['other'])).rejects.toThrow(/no variable 'other' in the file \(it holds: big\)/);
  });
});

describe('format detection errors', () => {
  it('names a missing file, an empty file and an unknown format', async () => {
    await expect(loadArrays(file('absent.mat'))).rejects.toThrow(`petscml: loadArrays: ${file('absent.mat')}: no such file`);
    const text = file('notes.mat');
    fs.writeFileSync(text, 'just some text, not an array file\n');
    await expect(loadArrays(text)).rejects.toThrow(TypeError);
    await expect(loadArrays(text)).rejects.toThrow(/notes\.mat: unknown format/);
    const empty = file('empty.npy');
    fs.writeFileSync(empty, '');
    await expect(loadArrays(empty)).rejects.toThrow(/empty\.npy: the file is empty/);
    await expect(loadArrays(text, 'a' as never)).rejects.toThrow(/names: expected an array of strings/);
  });
});

describe('toDataset', () => {
  // Burgers in small: 10 samples of 16 points, subsampled by 4 as the authors do 8192 → 128 by 64
  const a = { values: ramp([10, 16]), shape: [10, 16] };
  const u = { values: ramp([10, 16]).map((x) => -x), shape: [10, 16] };

  it('takes rows [first, last) and every stride-th point of x and y, as float32', () => {
    const train = toDataset(a, u, { last: 6, stride: 4 });
    expect(train.x.shape).toEqual([6, 4]);
    expect(train.y.shape).toEqual([6, 4]);
    expect(train.x.values).toBeInstanceOf(Float32Array);
    expect(Array.from(train.x.values.slice(0, 8))).toEqual([0, 4, 8, 12, 16, 20, 24, 28].map((i) => a.values[i]));
    expect(train.y.values[7]).toBe(u.values[1 * 16 + 12]);
    const test = toDataset(a, u, { first: -2, stride: 4 });
    expect(test.x.shape).toEqual([2, 4]);
    expect(test.x.values[0]).toBe(a.values[8 * 16]);
    expect(toDataset(a, u).x).toEqual({ values: Float32Array.from(a.values), shape: [10, 16] });
    // a stride that does not divide the points keeps the first point of each stride
    expect(toDataset(a, u, { stride: 5 }).x.shape).toEqual([10, 4]);
    // loaded arrays go straight in
    expect(columnMajorToRowMajor(Float64Array.from([1, 3, 2, 4]), [2, 2])).toEqual(Float64Array.from([1, 2, 3, 4]));
  });

  it('checks ranges and shapes', () => {
    expect(() => toDataset(a, u, { first: 11 })).toThrow(RangeError);
    expect(() => toDataset(a, u, { first: 11 })).toThrow(/first 11 is outside \[-10, 10\] for 10 samples/);
    expect(() => toDataset(a, u, { last: -11 })).toThrow(/last -11 is outside/);
    expect(() => toDataset(a, u, { first: 5, last: 5 })).toThrow(/rows \[5, 5\) select no samples/);
    expect(() => toDataset(a, u, { stride: 0 })).toThrow(/stride: expected a positive integer, got 0/);
    expect(() => toDataset(a, u, { stride: 1.5 })).toThrow(/stride: expected an integer/);
    expect(() => toDataset(a, { values: ramp([9 * 16]), shape: [9, 16] })).toThrow(/x has 10 samples but y has 9/);
    expect(() => toDataset({ values: ramp([8]), shape: [2, 2, 2] }, u)).toThrow(/expected a \[samples, points\] array, got shape \[2, 2, 2\]/);
    expect(() => toDataset({ values: ramp([7]), shape: [2, 4] }, u)).toThrow(/shape \[2, 4\] needs 8 values, got 7/);
  });
});
