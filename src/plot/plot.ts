/**
 * Figures like the PETScML paper's: training loss and test metric against epochs and against
 * oracle calls, log-log, one line per run, each legend entry carrying the minimum reached.
 *
 * Layout: one figure file holding a grid of panels — a row per quantity (training loss; the test
 * metric when any run has one) and a column per x axis (epochs, oracle calls), so `-o fig` gives
 * `fig.svg` and `fig.png` with up to 2x2 panels. Each row has its own legend (the minimum differs
 * between quantities); a run keeps its colour in every panel.
 *
 * The figure is a Vega-Lite specification compiled by vega-lite and rendered headless by vega
 * (no canvas, no browser) to SVG; the PNG is that SVG rasterized by resvg, with system fonts
 * (DejaVu Sans on Debian: package fonts-dejavu-core).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as vm from 'node:vm';
import type { RunLog } from '../monitor/log';
import { readLog } from '../monitor/log';
import { argError } from '../petsc/errors';

/** The x axes a figure can use. */
export type PlotXAxis = 'epoch' | 'oracleCalls';
/** Output formats. */
export type PlotFormat = 'svg' | 'png';

/** Options of {@link plotRuns}. */
export interface PlotOptions {
  /**
   * Output path without extension: 'fig' writes 'fig.svg' and 'fig.png'. A trailing '.svg' or
   * '.png' is dropped. Missing directories are created.
   */
  out: string;
  /** Default ['svg', 'png']. */
  formats?: PlotFormat[];
  /** Columns of the grid, in order. Default ['epoch', 'oracleCalls']. */
  x?: PlotXAxis[];
  /** Figure title. */
  title?: string;
  /** PNG pixels per SVG unit. Default 2 (sharp in papers and on high-density screens). */
  scale?: number;
  /** Size of one panel's plot area in SVG units. Default 320 x 240. */
  panelWidth?: number;
  panelHeight?: number;
  /** Most points drawn per line; longer runs are thinned evenly (keeping the first, last and minimum). Default 2000. */
  maxPointsPerLine?: number;
}

/** What {@link plotRuns} did. */
export interface PlotResult {
  /** The files written, in the order of `formats`. */
  files: string[];
  /**
   * What the figure leaves out and why (points a log axis cannot show, runs without a test
   * metric); one sentence each, for the user to read.
   */
  notes: string[];
}

/** The figure as SVG text, before any file is written. */
export interface FigureSvg {
  svg: string;
  width: number;
  height: number;
  notes: string[];
}

const X_TITLES: Record<PlotXAxis, string> = { epoch: 'epochs', oracleCalls: 'oracle calls' };
const X_NAMES: Record<string, PlotXAxis> = { epoch: 'epoch', epochs: 'epoch', oracle: 'oracleCalls', oracleCalls: 'oracleCalls', 'oracle-calls': 'oracleCalls' };

/** Tableau 10, Vega's default: distinct in colour and in greyscale lightness. */
const PALETTE = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

/** Parses an x-axis name as the CLI spells it ('epoch', 'oracle', 'oracleCalls'). */
export function parseXAxis(name: string): PlotXAxis | undefined {
  return Object.prototype.hasOwnProperty.call(X_NAMES, name) ? X_NAMES[name] : undefined;
}

/**
 * Vega and Vega-Lite ship as ES modules only, with top-level await, so require() cannot load them
 * even where Node supports require(esm); and TypeScript compiles import() in a CommonJS module to
 * require(). So the import() is compiled at run time. Inside a vm context (vitest runs modules in
 * one) such code has no module loader; there, Node's main loader is lent explicitly (an API Node
 * still flags experimental, hence not the first choice).
 */
type EsmImport = (url: string) => Promise<unknown>;
let importModule: EsmImport | undefined;
async function esmImport(url: string): Promise<unknown> {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  importModule ??= new Function('url', 'return import(url)') as EsmImport;
  try {
    return await importModule(url);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING') throw e;
    importModule = new vm.Script('(url) => import(url)', {
      filename: __filename,
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    }).runInThisContext() as EsmImport;
    return importModule(url);
  }
}

interface VegaModules {
  vega: typeof import('vega');
  /** Only compile() is used; vega-lite's own types resolve under node16 module resolution only. */
  vegaLite: { compile(spec: object): { spec: import('vega').Spec } };
}
let modules: Promise<VegaModules> | undefined;

function loadVega(): Promise<VegaModules> {
  // Resolved from this file, not from the working directory, so a global or npx install works.
  const load = (name: string) => esmImport(pathToFileURL(require.resolve(name)).href);
  modules ??= Promise.all([load('vega'), load('vega-lite')]).then(([vega, vegaLite]) => ({
    vega: vega as VegaModules['vega'],
    vegaLite: vegaLite as VegaModules['vegaLite'],
  }));
  return modules;
}

/** '3.2e-5' style: two significant digits, the form the paper's legends use. */
function formatMin(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 0.01 && a < 1000) return String(Number(v.toPrecision(2)));
  return v.toExponential(1);
}

interface Quantity {
  key: 'loss' | 'testMetric';
  title: string;
  /** The value of this quantity in a record, or null when the record has none. */
  value: (r: RunLog['iterations'][number]) => number | null;
}

interface Point {
  label: string;
  x: number;
  y: number;
  /** Single-point series get a dot, since a line through one point draws nothing. */
  single: boolean;
}

/** Evenly thins a series to at most n points, keeping the first, the last and the minimum. */
function thin<T extends { y: number }>(pts: T[], n: number): T[] {
  if (pts.length <= n) return pts;
  let iMin = 0;
  for (let i = 1; i < pts.length; i++) if (pts[i].y < pts[iMin].y) iMin = i;
  const keep = new Set<number>([0, pts.length - 1, iMin]);
  const step = (pts.length - 1) / (n - 3);
  for (let k = 0; k * step < pts.length; k++) keep.add(Math.round(k * step));
  return [...keep].sort((a, b) => a - b).map((i) => pts[i]);
}

function uniqueLabels(runs: readonly RunLog[]): string[] {
  // A float64 run says so in its label: the same solver in both precisions is a common comparison.
  const names = runs.map((r) => (r.header.precision === 'float64' ? `${r.header.solver} float64` : r.header.solver));
  const tally = (xs: string[]) => { const c = new Map<string, number>(); for (const x of xs) c.set(x, (c.get(x) ?? 0) + 1); return c; };
  const count = tally(names);
  // Two logs of the same solver (a parameter sweep): tell them apart by file, else by position.
  const withFile = names.map((s, i) => {
    if (count.get(s) === 1) return s;
    const base = runs[i].path ? path.basename(runs[i].path!).replace(/\.jsonl?$/, '') : '';
    return base && base !== s ? `${s} [${base}]` : s;
  });
  const still = tally(withFile);
  const seen = new Map<string, number>();
  return withFile.map((s) => {
    if (still.get(s) === 1) return s;
    const k = (seen.get(s) ?? 0) + 1;
    seen.set(s, k);
    return `${s} #${k}`;
  });
}

function checkOptions(opts: PlotOptions): Required<Omit<PlotOptions, 'title'>> & { title?: string } {
  if (opts === null || typeof opts !== 'object') throw argError('plotRuns(runs, opts)', 'an options object', opts);
  if (typeof opts.out !== 'string' || opts.out.length === 0) throw argError('plotRuns(runs, { out })', 'a non-empty output path', opts.out);
  const formats = opts.formats ?? ['svg', 'png'];
  if (!Array.isArray(formats) || formats.length === 0 || formats.some((f) => f !== 'svg' && f !== 'png')) {
    throw argError('plotRuns(runs, { formats })', "a non-empty array of 'svg' and 'png'", formats);
  }
  const x = opts.x ?? ['epoch', 'oracleCalls'];
  if (!Array.isArray(x) || x.length === 0 || x.some((a) => a !== 'epoch' && a !== 'oracleCalls')) {
    throw argError('plotRuns(runs, { x })', "a non-empty array of 'epoch' and 'oracleCalls'", x);
  }
  if (opts.title !== undefined && typeof opts.title !== 'string') throw argError('plotRuns(runs, { title })', 'a string', opts.title);
  const positive = (name: string, v: unknown, def: number, integer = false): number => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
      throw argError(`plotRuns(runs, { ${name} })`, integer ? 'a positive integer' : 'a positive number', v);
    }
    return v;
  };
  const maxPointsPerLine = positive('maxPointsPerLine', opts.maxPointsPerLine, 2000, true);
  if (maxPointsPerLine < 4) throw argError('plotRuns(runs, { maxPointsPerLine })', 'an integer >= 4', maxPointsPerLine);
  return {
    out: opts.out.replace(/\.(svg|png)$/i, ''),
    formats: [...new Set(formats)],
    x: [...new Set(x)],
    title: opts.title,
    scale: positive('scale', opts.scale, 2),
    panelWidth: positive('panelWidth', opts.panelWidth, 320),
    panelHeight: positive('panelHeight', opts.panelHeight, 240),
    maxPointsPerLine,
  };
}

function toRuns(runs: readonly (RunLog | string)[]): RunLog[] {
  if (!Array.isArray(runs) || runs.length === 0) throw argError('plotRuns(runs)', 'a non-empty array of logs or log paths', runs);
  return runs.map((r, i) => {
    if (typeof r === 'string') return readLog(r);
    if (r === null || typeof r !== 'object' || r.header?.type !== 'header' || !Array.isArray(r.iterations)) {
      throw argError(`plotRuns(runs[${i}])`, 'a RunLog (from readLog) or a path', r);
    }
    return r;
  });
}

/** Builds the figure's SVG from logs (read from paths when given as strings). */
export async function renderFigureSvg(
  runsIn: readonly (RunLog | string)[],
  optsIn: Omit<PlotOptions, 'out' | 'formats'> = {},
): Promise<FigureSvg> {
  const runs = toRuns(runsIn);
  const opts = checkOptions({ ...optsIn, out: 'unused' });
  const labels = uniqueLabels(runs);
  const notes: string[] = [];

  const metricNames = new Set(runs.map((r) => r.header.metric).filter((m): m is string => typeof m === 'string'));
  const hasMetric = runs.map((r) => r.iterations.some((it) => it.testMetric !== null && Number.isFinite(it.testMetric)));
  // With mini-batches the per-step loss is the batch's; the training-set loss is recorded once per epoch.
  const quantities: Quantity[] = [{ key: 'loss', title: 'training loss', value: (r) => (r.trainLoss !== undefined ? r.trainLoss : r.loss) }];
  if (hasMetric.some(Boolean)) {
    quantities.push({
      key: 'testMetric',
      title: metricNames.size === 1 ? `test ${[...metricNames][0]}` : 'test metric',
      value: (r) => r.testMetric,
    });
    runs.forEach((r, i) => {
      if (!hasMetric[i]) notes.push(`${labels[i]}: no test metric in the log; left out of the test panels`);
    });
  } else {
    notes.push('no run has a test metric: the figure shows the training loss only');
  }

  const rows = quantities.map((q) => {
    // Legend entries: label + the minimum of this quantity over the whole run.
    const entries: { label: string; color: string; points: Map<PlotXAxis, Point[]> }[] = [];
    runs.forEach((run, i) => {
      if (q.key === 'testMetric' && !hasMetric[i]) return;
      const values = run.iterations.map((it) => ({ it, y: q.value(it) })).filter((v) => v.y !== null) as {
        it: RunLog['iterations'][number];
        y: number;
      }[];
      let min = Infinity;
      for (const v of values) if (Number.isFinite(v.y) && v.y < min) min = v.y;
      const badY = values.filter((v) => !(v.y > 0) || !Number.isFinite(v.y)).length;
      if (badY > 0) {
        notes.push(
          `${labels[i]}: ${badY} ${q.title} value${badY > 1 ? 's' : ''} not positive or not finite, not drawn on the log axis`,
        );
      }
      const label = Number.isFinite(min) ? `${labels[i]} (min ${formatMin(min)})` : `${labels[i]} (no finite value)`;
      const points = new Map<PlotXAxis, Point[]>();
      for (const xa of opts.x) {
        let badX = 0;
        const pts: Point[] = [];
        values.forEach((v, k) => {
          const x = xa === 'epoch' ? v.it.epoch : v.it.oracleCalls;
          if (!(v.y > 0) || !Number.isFinite(v.y)) return;
          if (!(x > 0) || !Number.isFinite(x)) {
            // The starting point sits at 0 epochs / 0 oracle calls, which no log axis has: expected, not worth a note.
            if (!(k === 0 && x === 0)) badX++;
            return;
          }
          pts.push({ label, x, y: v.y, single: false });
        });
        if (badX > 0) {
          notes.push(
            `${labels[i]}: ${badX} ${q.title} point${badX > 1 ? 's' : ''} at ${X_TITLES[xa]} <= 0, not drawn on the log axis`,
          );
        }
        const thinned = thin(pts, opts.maxPointsPerLine);
        if (thinned.length === 1) thinned[0].single = true;
        points.set(xa, thinned);
      }
      entries.push({ label, color: PALETTE[i % PALETTE.length], points });
    });
    const domain = entries.map((e) => e.label);
    const range = entries.map((e) => e.color);
    const panels = opts.x.map((xa) => ({
      width: opts.panelWidth,
      height: opts.panelHeight,
      data: { values: entries.flatMap((e) => e.points.get(xa)!) },
      encoding: {
        // y spans whole decades (nice), as in the paper; x stops at the data so long runs keep their room.
        // A small tickCount makes the log axes tick at powers of ten once they span a few decades.
        x: { field: 'x', type: 'quantitative', scale: { type: 'log', nice: false }, axis: { title: X_TITLES[xa], format: '~g', tickCount: 6 } },
        y: { field: 'y', type: 'quantitative', scale: { type: 'log', nice: true }, axis: { title: q.title, format: '.0e', tickCount: 6 } },
        color: {
          field: 'label',
          type: 'nominal',
          scale: { domain, range },
          // Shared along the row (see resolve below): one legend per row, right of its last panel.
          legend: { title: null, orient: 'right', labelLimit: 320, symbolType: 'stroke', symbolStrokeWidth: 2, symbolOpacity: 1 },
        },
      },
      layer: [
        // order by x so a line never doubles back (oracle calls can tie at an unchanged iterate).
        { mark: { type: 'line', strokeWidth: 1.6, clip: true, interpolate: 'linear' }, encoding: { order: { field: 'x', type: 'quantitative' } } },
        { transform: [{ filter: 'datum.single' }], mark: { type: 'point', filled: true, size: 40, opacity: 1, clip: true } },
      ],
      name: `panel_${q.key}_${xa}`,
    }));
    // Colour shared along a row (the legend labels, with this quantity's minimum, are the same),
    // independent between rows; axes independent everywhere (epochs and oracle calls differ).
    return { hconcat: panels, resolve: { scale: { color: 'shared', x: 'independent', y: 'independent' } } };
  });

  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(opts.title ? { title: { text: opts.title, fontSize: 15, anchor: 'middle' } } : {}),
    background: 'white',
    padding: 12,
    vconcat: rows,
    resolve: { scale: { color: 'independent', x: 'independent', y: 'independent' } },
    config: {
      font: FONT,
      view: { stroke: '#444' },
      axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#e6e6e6', domainColor: '#444', tickColor: '#444' },
      legend: { labelFontSize: 11 },
      concat: { spacing: 24 },
    },
  };
  const svg = await renderVegaLiteSvg(spec);
  const m = /<svg[^>]*\bwidth="([\d.]+)"[^>]*\bheight="([\d.]+)"/.exec(svg);
  return { svg, width: m ? Number(m[1]) : NaN, height: m ? Number(m[2]) : NaN, notes };
}

/** Any Vega-Lite spec as SVG, headless (no browser, no canvas). */
export async function renderVegaLiteSvg(spec: object): Promise<string> {
  const { vega, vegaLite } = await loadVega();
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterizes an SVG to PNG bytes with resvg (system fonts; DejaVu Sans as the sans-serif). */
export function svgToPng(svg: string, scale = 2): Buffer {
  if (typeof svg !== 'string') throw argError('svgToPng(svg)', 'SVG text', svg);
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) throw argError('svgToPng(svg, scale)', 'a positive number', scale);
  // Loaded lazily: the native renderer is needed for PNGs only.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { Resvg } = require('@resvg/resvg-js') as typeof import('@resvg/resvg-js');
  const r = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  });
  return r.render().asPng();
}

/**
 * Draws the comparison figure of one or more runs (logs or paths to `.jsonl` logs) and writes
 * it in each requested format.
 */
export async function plotRuns(runs: readonly (RunLog | string)[], opts: PlotOptions): Promise<PlotResult> {
  const o = checkOptions(opts);
  const fig = await renderFigureSvg(runs, o);
  const dir = path.dirname(path.resolve(o.out));
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new Error(`petscml: cannot create the output directory ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const files: string[] = [];
  for (const f of o.formats) {
    const file = `${o.out}.${f}`;
    const data = f === 'svg' ? fig.svg : svgToPng(fig.svg, o.scale);
    try {
      fs.writeFileSync(file, data);
    } catch (e) {
      throw new Error(`petscml: cannot write ${file}: ${(e as Error).message}`, { cause: e });
    }
    files.push(file);
  }
  return { files, notes: fig.notes };
}
