import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JsonlLog, parseLog, readLog, readLogs } from '../../src/monitor/log';
import type { HeaderRecord, IterationRecord, SummaryRecord } from '../../src/monitor/record';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'petscml-log-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const counts = { objective: 1, gradient: 2, objectiveAndGradient: 3, hessian: 4, hessianProducts: 5, kspIterations: 6 };
const header: HeaderRecord = {
  type: 'header',
  solver: 'TR-GN',
  taoType: 'ntr',
  prefix: 'tr_',
  hessian: 'gauss-newton',
  parameters: 12,
  batchesPerEpoch: 1,
  metric: 'mse',
  options: { tr_tao_type: 'ntr' },
  ranks: 1,
  started: '2024-01-01T00:00:00.000Z',
  petscmlVersion: '0.1.0',
};
const iter = (i: number, loss = 1 / (i + 1)): IterationRecord => ({
  type: 'iteration',
  iteration: i,
  epoch: i,
  loss,
  gradNorm: 2 * loss,
  testMetric: i % 2 === 0 ? loss / 2 : null,
  counts,
  oracleCalls: 4 * i,
  trustRadius: 1.5,
  stepLength: null,
  time: 0.25 * i,
});
const summary: SummaryRecord = {
  type: 'summary',
  iterations: 2,
  epochs: 2,
  loss: 1 / 3,
  minLoss: 1 / 3,
  gradNorm: 2 / 3,
  testMetric: 1 / 6,
  minTestMetric: 1 / 6,
  oracleCalls: 8,
  counts,
  reason: 'CONVERGED_GATOL',
  converged: true,
  time: 0.5,
};

describe('JsonlLog', () => {
  it('writes one JSON record per line, creating directories, and reads them back', () => {
    const file = path.join(tmp, 'a/b/run.jsonl');
    const log = JsonlLog.open(file);
    log.write(header);
    for (let i = 0; i < 3; i++) log.write(iter(i));
    // Readable while still open: each write is already in the file.
    expect(fs.readFileSync(file, 'utf8').split('\n')).toHaveLength(5);
    log.write(summary);
    log.close();
    log.close();
    expect(log.closed).toBe(true);
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[5]).toBe('');
    expect(JSON.parse(lines[0])).toEqual(header);
    expect(JSON.parse(lines[2])).toEqual(iter(1));
    const run = readLog(file);
    expect(run.header).toEqual(header);
    expect(run.iterations).toEqual([iter(0), iter(1), iter(2)]);
    expect(run.summary).toEqual(summary);
    expect(run.torn).toBe(false);
    expect(run.path).toBe(file);
  });

  it('replaces an existing file unless asked to append', () => {
    const file = path.join(tmp, 'replace.jsonl');
    fs.writeFileSync(file, 'old contents\n');
    const log = JsonlLog.open(file);
    log.write(header);
    log.close();
    expect(fs.readFileSync(file, 'utf8')).toBe(JSON.stringify(header) + '\n');
    const more = JsonlLog.open(file, { append: true, fsync: true });
    more.write(iter(0));
    more.close();
    expect(readLog(file).iterations).toEqual([iter(0)]);
  });

  it('does nothing at all when disabled (the ranks that do not log)', () => {
    const file = path.join(tmp, 'disabled/run.jsonl');
    const log = JsonlLog.open(file, { enabled: false });
    log.write(header);
    log.write(iter(0));
    log.close();
    expect(log.enabled).toBe(false);
    expect(fs.existsSync(path.dirname(file))).toBe(false);
  });

  it('stores a non-finite loss as null and reads it back as NaN', () => {
    const file = path.join(tmp, 'nan.jsonl');
    const log = JsonlLog.open(file);
    log.write(header);
    log.write(iter(0, Infinity));
    log.write({ ...iter(1), loss: NaN, gradNorm: NaN });
    log.close();
    expect(fs.readFileSync(file, 'utf8')).toContain('"loss":null');
    const its = readLog(file).iterations;
    expect(its[0].loss).toBeNaN();
    expect(its[1].loss).toBeNaN();
    expect(its[1].gradNorm).toBeNaN();
  });

  it('refuses bad arguments and writes after close', () => {
    expect(() => JsonlLog.open('')).toThrow(/^petscml: JsonlLog.open\(path\): expected a non-empty path/);
    expect(() => JsonlLog.open(path.join(tmp, 'x.jsonl'), { enabled: 1 as unknown as boolean })).toThrow(/a boolean, got 1/);
    const log = JsonlLog.open(path.join(tmp, 'closed.jsonl'));
    expect(() => log.write({ type: 'nope' } as unknown as HeaderRecord)).toThrow(/type 'header', 'iteration' or 'summary'/);
    log.close();
    expect(() => log.write(header)).toThrow(/is closed/);
    // A directory where the file should be.
    expect(() => JsonlLog.open(tmp)).toThrow(/^petscml: cannot open the log .* for writing/);
  });

  it('keeps every record written before the process is SIGKILLed mid-run', async () => {
    const file = path.join(tmp, 'killed.jsonl');
    const child = spawn(process.execPath, [path.resolve(__dirname, '../fixtures/log-writer.js'), file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let acked = -1;
    let buf = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        if (lines.length) acked = Number(lines[lines.length - 1]);
        if (acked >= 300 && !child.killed) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => resolve());
    });
    expect(await exited, stderr).toBe('SIGKILL');
    const run = readLog(file);
    expect(run.summary).toBeUndefined();
    // Everything acknowledged is there, in order, intact; at most the record in flight comes after.
    expect(run.iterations.length).toBeGreaterThanOrEqual(acked + 1);
    run.iterations.forEach((r, i) => {
      expect(r.iteration).toBe(i);
      expect(r.loss).toBe(1 / (i + 1));
      expect((r as unknown as { note: string }).note).toHaveLength(100 + (i % 7) * 300);
    });
  });
});

describe('readLog', () => {
  const text = [header, iter(0), iter(1)].map((r) => JSON.stringify(r)).join('\n') + '\n';

  it('skips a torn last line and says so', () => {
    const full = JSON.stringify(iter(2));
    const run = parseLog(text + full.slice(0, full.length - 9), 'torn.jsonl');
    expect(run.torn).toBe(true);
    expect(run.iterations).toEqual([iter(0), iter(1)]);
    // A complete last line without its newline is not torn.
    const whole = parseLog(text + full, 'whole.jsonl');
    expect(whole.torn).toBe(false);
    expect(whole.iterations).toHaveLength(3);
  });

  it('ignores unknown fields, unknown record types and blank lines', () => {
    const extra = JSON.stringify({ ...iter(2), future: { a: 1 } });
    const run = parseLog(text + '\n' + JSON.stringify({ type: 'checkpoint', at: 3 }) + '\n' + extra + '\n');
    expect(run.iterations).toHaveLength(3);
    expect(run.iterations[2].loss).toBe(1 / 3);
  });

  it('fills a missing testMetric with null', () => {
    const { testMetric: _unused, ...rec } = iter(0);
    expect(parseLog(JSON.stringify(header) + '\n' + JSON.stringify(rec) + '\n').iterations[0].testMetric).toBeNull();
  });

  it('says clearly when a file is not a petscml log', () => {
    const write = (name: string, body: string) => {
      const f = path.join(tmp, name);
      fs.writeFileSync(f, body);
      return f;
    };
    expect(() => readLog(write('empty.jsonl', ''))).toThrow(/^petscml: .*empty.jsonl is not a petscml training log \(it is empty\)$/);
    expect(() => readLog(write('pkg.json', '{\n  "name": "x"\n}\n'))).toThrow(/is not a petscml training log \(line 1 is not JSON\)/);
    expect(() => readLog(write('other.jsonl', '{"a":1}\n{"a":2}\n'))).toThrow(/is not a petscml training log \(its first record is not a header\)/);
    expect(() => readLog(write('arr.jsonl', '[1,2]\n'))).toThrow(/line 1 is not a JSON object/);
    expect(() => readLog(write('nolabel.jsonl', '{"type":"header"}\n'))).toThrow(/its header has no 'solver' label/);
    expect(() => readLog(path.join(tmp, 'missing.jsonl'))).toThrow(/^petscml: cannot read the log .*missing.jsonl: no such file$/);
    expect(() => readLog(tmp)).toThrow(/: it is a directory$/);
  });

  it('reports damage in the middle of a log with its line number', () => {
    const lines = text.split('\n');
    const damaged = [lines[0], '{"type":"iteration", oops', lines[2], ''].join('\n');
    expect(() => parseLog(damaged, 'd.jsonl')).toThrow(/^petscml: d.jsonl line 2: not valid JSON/);
    const noLoss = JSON.stringify({ ...iter(0), loss: 'big' });
    expect(() => parseLog(lines[0] + '\n' + noLoss + '\n', 'n.jsonl')).toThrow(/n.jsonl line 2: iteration record has no number 'loss' \(got "big"\)/);
    expect(() => parseLog(text + JSON.stringify(header) + '\n', 'h.jsonl')).toThrow(/h.jsonl line 4: a second header/);
  });

  it('readLogs reads several files in order', () => {
    const a = path.join(tmp, 'ra.jsonl');
    const b = path.join(tmp, 'rb.jsonl');
    fs.writeFileSync(a, text);
    fs.writeFileSync(b, JSON.stringify({ ...header, solver: 'L-BFGS' }) + '\n');
    expect(readLogs([a, b]).map((r) => r.header.solver)).toEqual(['TR-GN', 'L-BFGS']);
    expect(() => readLogs('a' as unknown as string[])).toThrow(/expected an array of paths/);
  });
});
