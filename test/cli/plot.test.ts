import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { PLOT_HELP, runPlot } from '../../src/cli/plot';
import { JsonlLog } from '../../src/monitor/log';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'petscml-cli-plot-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writeLog(name: string, solver: string, n: number): string {
  const file = path.join(tmp, name);
  const log = JsonlLog.open(file);
  log.write({ type: 'header', solver, taoType: 'lmvm', prefix: '', hessian: 'none', parameters: 2, batchesPerEpoch: 1, metric: 'mse',
    options: {}, ranks: 1, started: '2024-01-01T00:00:00Z', petscmlVersion: '0.1.0' });
  const counts = { objective: 0, gradient: 0, objectiveAndGradient: 0, hessian: 0, hessianProducts: 0, kspIterations: 0 };
  for (let i = 0; i <= n; i++) {
    log.write({ type: 'iteration', iteration: i, epoch: i, loss: 1 / (1 + i * i), gradNorm: 1, testMetric: i % 3 === 0 ? 2 / (1 + i) : null,
      counts, oracleCalls: 2 * i, trustRadius: null, stepLength: 1, time: i / 10 });
  }
  log.close();
  return file;
}

/** Runs the command in-process, capturing what it prints. */
async function run(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runPlot(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

const a = writeLog('lbfgs.jsonl', 'L-BFGS', 40);
const b = writeLog('tr.jsonl', 'TR', 12);

describe('petscml plot', () => {
  it('draws the logs and says what it wrote', async () => {
    const out = path.join(tmp, 'out/fig');
    const r = await run(a, b, '-o', out, '--title', 'Two runs', '--table');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^solver +iters +epochs +final loss .*\n[- ]+\nL-BFGS +40 +40 .*\nTR +12 +12 .*killed\n/);
    expect(r.stdout.endsWith(`wrote ${out}.svg\nwrote ${out}.png\n`)).toBe(true);
    expect(fs.readFileSync(`${out}.svg`, 'utf8')).toContain('Two runs');
    const png = PNG.sync.read(fs.readFileSync(`${out}.png`));
    expect(png.width).toBeGreaterThan(1000);
  });

  it('takes --format, --x and --scale', async () => {
    const out = path.join(tmp, 'small');
    const r = await run(a, '-o', out, '--format', 'png', '--x', 'oracle', '--scale', '1', '--markdown');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('| L-BFGS | 40 |');
    expect(fs.existsSync(`${out}.svg`)).toBe(false);
    const one = PNG.sync.read(fs.readFileSync(`${out}.png`));
    const r2 = await run(a, '-o', out, '--format', 'png', '--x', 'oracle,epoch', '--scale', '1');
    expect(r2.code).toBe(0);
    const two = PNG.sync.read(fs.readFileSync(`${out}.png`));
    // A second column of panels.
    expect(two.width).toBeGreaterThan(one.width + 300);
    expect(two.height).toBe(one.height);
  });

  it('prints its help', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(PLOT_HELP);
    expect(PLOT_HELP).toContain('--format');
    expect(PLOT_HELP).toContain('--x');
  });

  it.each([
    [[], 'no log files given'],
    [['x.jsonl'], '-o OUT is required (the output path without extension)'],
    [['x.jsonl', '-o'], "Option '-o, --out <value>' argument missing"],
    [['x.jsonl', '-o', 'f', '--bogus'], "Unknown option '--bogus'"],
    [['x.jsonl', '-o', 'f', '--format', 'pdf'], "--format: unknown value 'pdf'"],
    [['x.jsonl', '-o', 'f', '--format', ','], '--format needs a comma-separated list'],
    [['x.jsonl', '-o', 'f', '--x', 'time'], "--x: unknown value 'time'"],
    [['x.jsonl', '-o', 'f', '--scale', 'big'], "--scale: expected a number in (0, 16], got 'big'"],
  ])('refuses bad arguments %j with exit code 2', async (argv, message) => {
    const r = await run(...argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`petscml plot: ${message}\nRun 'petscml plot --help' for usage.\n`);
  });

  it('refuses unreadable and invalid files with exit code 1 and one line', async () => {
    const notLog = path.join(tmp, 'notes.txt');
    fs.writeFileSync(notLog, 'hello\n');
    const cases: [string, RegExp][] = [
      [path.join(tmp, 'missing.jsonl'), /^petscml: cannot read the log .*missing.jsonl: no such file\n$/],
      [notLog, /^petscml: .*notes.txt is not a petscml training log \(line 1 is not JSON\)\n$/],
      [tmp, /^petscml: cannot read the log .*: it is a directory\n$/],
    ];
    for (const [file, re] of cases) {
      const r = await run(a, file, '-o', path.join(tmp, 'never'));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(re);
    }
    expect(fs.existsSync(path.join(tmp, 'never.svg'))).toBe(false);
    // An output directory that cannot be created (a file is in the way).
    const r = await run(a, '-o', path.join(notLog, 'fig'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^petscml: cannot create the output directory .*notes.txt: /);
    expect(r.stderr.split('\n')).toHaveLength(2);
  });

  it('runs as a process: exit codes and no stack traces', () => {
    const script = path.resolve(__dirname, '../../dist/cli/plot.js');
    const node = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 60_000 });
    const bad = node(a, '--nope');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe("petscml plot: Unknown option '--nope'\nRun 'petscml plot --help' for usage.\n");
    const invalid = node(path.join(tmp, 'missing.jsonl'), '-o', path.join(tmp, 'p'));
    expect(invalid.status).toBe(1);
    expect(invalid.stderr).not.toMatch(/\n\s+at /);
    const ok = node(a, b, '-o', path.join(tmp, 'proc'), '--format', 'svg');
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe(`wrote ${path.join(tmp, 'proc')}.svg\n`);
  });
});
