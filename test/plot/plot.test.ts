import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { JsonlLog, readLog, type RunLog } from '../../src/monitor/log';
import type { HeaderRecord, IterationRecord } from '../../src/monitor/record';
import { plotRuns, renderFigureSvg } from '../../src/plot/plot';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'petscml-plot-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// The first two colours of the palette (Tableau 10), in run order.
const BLUE = [0x4c, 0x78, 0xa8];
const ORANGE = [0xf5, 0x85, 0x18];

const counts = { objective: 0, gradient: 0, objectiveAndGradient: 0, hessian: 0, hessianProducts: 0, kspIterations: 0 };

function header(solver: string, metric?: string): HeaderRecord {
  return {
    type: 'header',
    solver,
    taoType: 'ntr',
    prefix: '',
    hessian: 'none',
    parameters: 5,
    batchesPerEpoch: 1,
    ...(metric ? { metric } : {}),
    options: {},
    ranks: 1,
    started: '2024-01-01T00:00:00Z',
    petscmlVersion: '0.1.0',
  };
}

/** A synthetic log: loss falling from 1 to `min` over n iterations, a test metric every 5th. */
function writeLog(file: string, solver: string, n: number, min: number, opts: { metric?: boolean; callsPerIt?: number; precision?: 'float32' | 'float64' } = {}): string {
  const log = JsonlLog.open(file);
  log.write({ ...header(solver, opts.metric ? 'mse' : undefined), ...(opts.precision ? { precision: opts.precision } : {}) });
  for (let i = 0; i <= n; i++) {
    const loss = Math.pow(min, i / n);
    const rec: IterationRecord = {
      type: 'iteration',
      iteration: i,
      epoch: i,
      loss,
      gradNorm: loss,
      testMetric: opts.metric && i % 5 === 0 ? 2 * loss : null,
      counts,
      oracleCalls: (opts.callsPerIt ?? 2) * i,
      trustRadius: null,
      stepLength: null,
      time: i / 100,
    };
    log.write(rec);
  }
  log.close();
  return file;
}

/** Pixels within `tol` of colour `c` in a rectangle of a decoded PNG. */
function countColour(png: PNG, c: number[], x0: number, y0: number, x1: number, y1: number, tol = 2): number {
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const k = 4 * (y * png.width + x);
      if (Math.abs(png.data[k] - c[0]) <= tol && Math.abs(png.data[k + 1] - c[1]) <= tol && Math.abs(png.data[k + 2] - c[2]) <= tol) n++;
    }
  }
  return n;
}

describe('plotRuns', () => {
  const adam = writeLog(path.join(tmp, 'adam.jsonl'), 'Adam', 200, 4.1e-3, { metric: true, callsPerIt: 1 });
  const trgn = writeLog(path.join(tmp, 'trgn.jsonl'), 'TR-GN', 30, 3.2e-5, { metric: true, callsPerIt: 12 });

  it('tells runs of one solver apart: float64 by its label, same-named files in two folders by number', async () => {
    fs.mkdirSync(path.join(tmp, 'p32'), { recursive: true });
    fs.mkdirSync(path.join(tmp, 'p64'), { recursive: true });
    const a = writeLog(path.join(tmp, 'p32', 'tr-gn.jsonl'), 'TR-GN', 20, 1e-3, { precision: 'float32' });
    const b = writeLog(path.join(tmp, 'p64', 'tr-gn.jsonl'), 'TR-GN', 20, 1e-4, { precision: 'float64' });
    const out = path.join(tmp, 'figs/precision');
    await plotRuns([a, b], { out, formats: ['svg'] });
    const svg = fs.readFileSync(`${out}.svg`, 'utf8');
    expect(svg).toContain('TR-GN (min 1.0e-3)');
    expect(svg).toContain('TR-GN float64 (min 1.0e-4)');
    // Before, two tr-gn.jsonl of one solver were both labelled 'TR-GN [tr-gn]'.
    const c = writeLog(path.join(tmp, 'p64', 'again.jsonl'), 'TR-GN', 20, 1e-2);
    fs.mkdirSync(path.join(tmp, 'q'), { recursive: true });
    const d = writeLog(path.join(tmp, 'q', 'again.jsonl'), 'TR-GN', 20, 1e-5);
    await plotRuns([c, d], { out, formats: ['svg'] });
    const svg2 = fs.readFileSync(`${out}.svg`, 'utf8');
    expect(svg2).toContain('TR-GN [again] #1 (min 0.01)');
    expect(svg2).toContain('TR-GN [again] #2 (min 1.0e-5)');
  });

  it('writes an SVG and a PNG that really show both runs, with the minimum in each legend entry', async () => {
    const out = path.join(tmp, 'figs/compare');
    const res = await plotRuns([adam, trgn], { out, title: 'Comparison' });
    expect(res.files).toEqual([`${out}.svg`, `${out}.png`]);
    expect(res.notes).toEqual([]);

    const svg = fs.readFileSync(`${out}.svg`, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('TR-GN (min 3.2e-5)');
    expect(svg).toContain('Adam (min 4.1e-3)');
    // The test row: its minima are twice the loss's, at the last multiple of 5 for Adam (i = 200).
    expect(svg).toContain('TR-GN (min 6.4e-5)');
    expect(svg).toContain('Adam (min 8.2e-3)');
    expect(svg).toContain('test mse');
    expect(svg).toContain('oracle calls');
    const w = Number(/<svg[^>]*width="([\d.]+)"/.exec(svg)![1]);
    const h = Number(/<svg[^>]*height="([\d.]+)"/.exec(svg)![1]);

    const png = PNG.sync.read(fs.readFileSync(`${out}.png`));
    // Default scale 2: twice the SVG's size.
    expect(png.width).toBe(Math.round(2 * w));
    expect(png.height).toBe(Math.round(2 * h));
    // A 2x2 grid is wider than tall-ish and large enough to be read.
    expect(png.width).toBeGreaterThan(1200);
    expect(png.height).toBeGreaterThan(800);
    const W = png.width;
    const H = png.height;
    // White background: the corners and most of the image.
    expect(countColour(png, [255, 255, 255], 0, 0, 4, 4, 0)).toBe(16);
    expect(countColour(png, [255, 255, 255], W - 4, H - 4, W, H, 0)).toBe(16);
    expect(countColour(png, [255, 255, 255], 0, 0, W, H, 0)).toBeGreaterThan(0.5 * W * H);
    // Inside the top-left panel (loss vs epochs; no legend there): both lines drawn, thick enough
    // to leave hundreds of pixels of their exact colour.
    const panel = [0, Math.round(0.06 * H), Math.round(0.38 * W), Math.round(0.45 * H)] as const;
    expect(countColour(png, BLUE, ...panel)).toBeGreaterThan(300);
    expect(countColour(png, ORANGE, ...panel)).toBeGreaterThan(300);
    // The bottom-left panel (test metric vs epochs) as well.
    const lower = [0, Math.round(0.55 * H), Math.round(0.38 * W), H] as const;
    expect(countColour(png, BLUE, ...lower)).toBeGreaterThan(300);
    expect(countColour(png, ORANGE, ...lower)).toBeGreaterThan(300);
    // The title was rendered with a real font: dark pixels in the top band, centred.
    expect(countColour(png, [0, 0, 0], Math.round(0.3 * W), 0, Math.round(0.7 * W), Math.round(0.05 * H), 60)).toBeGreaterThan(100);
  });

  it('draws one run in one colour only (the pixel check can fail)', async () => {
    const out = path.join(tmp, 'single-run');
    await plotRuns([trgn], { out, formats: ['png'], scale: 1 });
    const png = PNG.sync.read(fs.readFileSync(`${out}.png`));
    const all = [0, 0, png.width, png.height] as const;
    expect(countColour(png, BLUE, ...all)).toBeGreaterThan(100);
    expect(countColour(png, ORANGE, ...all)).toBe(0);
  });

  it('leaves the test row out when no run has a test metric, and says so', async () => {
    const a = readLog(writeLog(path.join(tmp, 'nm-a.jsonl'), 'L-BFGS', 20, 1e-3));
    const b = readLog(writeLog(path.join(tmp, 'nm-b.jsonl'), 'LS', 10, 1e-6));
    const both = await renderFigureSvg([adam, trgn]);
    const fig = await renderFigureSvg([a, b]);
    expect(fig.notes).toEqual(['no run has a test metric: the figure shows the training loss only']);
    expect(fig.svg).not.toContain('test');
    expect(fig.svg).toContain('L-BFGS (min 1.0e-3)');
    expect(fig.height).toBeLessThan(0.6 * both.height);
    // Mixed: the run without a metric is in the loss row only.
    const mixed = await renderFigureSvg([a, trgn]);
    expect(mixed.notes).toEqual(['L-BFGS: no test metric in the log; left out of the test panels']);
    expect(mixed.svg.match(/>L-BFGS \(min [^<]*<\/text>/g)).toHaveLength(1);
    expect(mixed.svg.match(/>TR-GN \(min [^<]*<\/text>/g)).toHaveLength(2);
  });

  it('filters values a log axis cannot show, and says how many', async () => {
    const run = readLog(writeLog(path.join(tmp, 'zero.jsonl'), 'TR', 10, 1e-4));
    run.iterations[5] = { ...run.iterations[5], loss: 0 };
    run.iterations[6] = { ...run.iterations[6], loss: NaN };
    run.iterations[7] = { ...run.iterations[7], oracleCalls: 0 };
    const fig = await renderFigureSvg([run]);
    expect(fig.notes).toEqual([
      'no run has a test metric: the figure shows the training loss only',
      'TR: 2 training loss values not positive or not finite, not drawn on the log axis',
      'TR: 1 training loss point at oracle calls <= 0, not drawn on the log axis',
    ]);
    // The minimum in the legend is the smallest finite value (0 included: it was reached).
    expect(fig.svg).toContain('TR (min 0)');
  });

  it('draws a run of a single iteration as a dot', async () => {
    const file = path.join(tmp, 'one.jsonl');
    const log = JsonlLog.open(file);
    log.write(header('one'));
    log.write({ ...readLog(trgn).iterations[1] });
    log.close();
    const out = path.join(tmp, 'one');
    const res = await plotRuns([file], { out, formats: ['svg', 'png'] });
    const svg = fs.readFileSync(res.files[0], 'utf8');
    expect(svg).toContain('one (min 0.71)');
    expect(svg).toMatch(/class="mark-symbol role-mark[^"]*"[^>]*><path/);
    const png = PNG.sync.read(fs.readFileSync(res.files[1]));
    expect(countColour(png, BLUE, 0, 0, Math.round(0.38 * png.width), png.height)).toBeGreaterThan(50);
  });

  it('tells runs of the same solver apart, draws only the x axes asked for, and strips an extension', async () => {
    const again = writeLog(path.join(tmp, 'trgn-2.jsonl'), 'TR-GN', 15, 1e-2);
    const res = await plotRuns([trgn, again], { out: path.join(tmp, 'same.png'), formats: ['svg'], x: ['oracleCalls'] });
    expect(res.files).toEqual([path.join(tmp, 'same.svg')]);
    const svg = fs.readFileSync(res.files[0], 'utf8');
    expect(svg).toContain('TR-GN [trgn] (min 3.2e-5)');
    expect(svg).toContain('TR-GN [trgn-2] (min 0.01)');
    expect(svg).toContain('oracle calls');
    expect(svg).not.toContain('epochs');
    const mem: RunLog = { ...readLog(trgn), path: '' };
    const fig = await renderFigureSvg([mem, { ...mem }]);
    expect(fig.svg).toContain('TR-GN #2 (min 3.2e-5)');
  });

  it('refuses bad arguments with petscml messages', async () => {
    await expect(plotRuns([], { out: 'x' })).rejects.toThrow(/^petscml: plotRuns\(runs\): expected a non-empty array of logs or log paths/);
    await expect(plotRuns([trgn], { out: '' })).rejects.toThrow(/plotRuns\(runs, \{ out \}\): expected a non-empty output path/);
    await expect(plotRuns([trgn], { out: 'x', formats: ['pdf' as never] })).rejects.toThrow(/\{ formats \}\): expected a non-empty array of 'svg' and 'png'/);
    await expect(plotRuns([trgn], { out: 'x', x: ['time' as never] })).rejects.toThrow(/\{ x \}\): expected/);
    await expect(plotRuns([trgn], { out: 'x', scale: -1 })).rejects.toThrow(/\{ scale \}\): expected a positive number, got -1/);
    await expect(plotRuns([{ header: {} } as never], { out: 'x' })).rejects.toThrow(/plotRuns\(runs\[0\]\): expected a RunLog/);
    await expect(plotRuns([path.join(tmp, 'nothing.jsonl')], { out: 'x' })).rejects.toThrow(/^petscml: cannot read the log .*nothing.jsonl: no such file/);
  });
});
