// Issue 10, the process around the bridge: exit under valgrind, address-space limits, signals.
import { execFile, spawn, spawnSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');
const fixture = path.resolve(__dirname, '../fixtures/hardening.js');
const hasValgrind = spawnSync('valgrind', ['--version']).status === 0;

describe('exit', () => {
  // Static FunctionReferences destroyed by exit() after Node freed the env wrote into freed memory.
  // valgrind takes a minute or more per run: it runs asynchronously (both runs at once), because
  // a worker blocked that long in spawnSync misses vitest's RPC deadline and fails the whole run.
  it.skipIf(!hasValgrind)('a normal exit is clean under valgrind (no invalid reads or writes in our code)', async () => {
    const scripts = [
      "require('./dist').initialize({args:[]})",
      "const p=require('./dist');const v=p.Vec.create(3);new p.Tao({type:'lmvm'});new p.ShellMat({size:2,mult:()=>{}});v.withArray(()=>0);try{p.Vec.create(-1)}catch{};process.exit(0)",
    ];
    const runs = await Promise.all(scripts.map((script) => new Promise<{ status: number | null; stderr: string; timedOut: boolean }>((resolve) => {
      execFile('valgrind', ['--error-exitcode=9', `--suppressions=${path.join(__dirname, 'valgrind.supp')}`, 'node', '-e', script],
        { cwd: root, encoding: 'utf8', timeout: 400_000, maxBuffer: 64 << 20 }, (err, _stdout, stderr) => {
          const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
          resolve({ status: e ? (typeof e.code === 'number' ? e.code : null) : 0, stderr, timedOut: !!e?.killed });
        });
    })));
    for (const r of runs) {
      expect(r.timedOut).toBe(false);
      expect(r.stderr).not.toMatch(/Invalid (read|write)/);
      expect(r.stderr).toMatch(/ERROR SUMMARY: 0 errors/);
      expect(r.status).toBe(0);
    }
  }, 600_000);
});

describe('the addon used outside initialize() .. finalize()', () => {
  // The native classes are reachable before initialize() and after finalize(); their
  // constructors' first MPI call aborted the process ("MPI_Comm_size() ... before MPI_INIT").
  it('its constructors throw, naming the state, and the process goes on', () => {
    const script = [
      "const p=require('./dist');const n=require('./dist/native').native();",
      "const tryAll=()=>['Vec','Mat','KSP','PC','Tao'].map(C=>{try{new n[C]('self',undefined,3);return C+' made'}catch(e){return e.message}});",
      "const before=tryAll();p.Vec.create(3).destroy();p.finalize();const after=tryAll();",
      "console.log(JSON.stringify({before,after}))",
    ].join('');
    const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    const { before, after } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: string[]; after: string[] };
    for (const m of [...before, ...after]) expect(m).toMatch(/cannot create a (Vec|Mat|KSP|PC|Tao): PETSc is not initialized \(or has been finalized\)/);
  });
});

describe('address-space limit', () => {
  // OpenBLAS's fork handlers spun forever in Open MPI's singleton start under a finite RLIMIT_AS.
  it('initializes under ulimit -v 1200000 instead of spinning', () => {
    const env = { ...process.env };
    delete env.OPENBLAS_NUM_THREADS;
    const r = spawnSync('bash', ['-c', `ulimit -v 1200000 && exec "${process.execPath}" "${fixture}" init`], { encoding: 'utf8', env, timeout: 30_000 });
    expect(r.error).toBeUndefined(); // not killed by the timeout
    expect(r.stdout.trim()).toBe('initialized');
    expect(r.status).toBe(0);
  });

  it('keeps a thread count the user chose', () => {
    const r = spawnSync(process.execPath, ['-e', "require('./dist/native').native(); console.log(process.env.OPENBLAS_NUM_THREADS)"], {
      cwd: root, encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '2' }, timeout: 30_000,
    });
    expect(r.stdout.trim()).toBe('2');
  });
});

/** Runs the fixture, sends `signals` once it printed `after` (one every 300 ms). */
function interrupt(args: string[], signals: NodeJS.Signals[], after = 'started') {
  return new Promise<{ out: string; code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) => {
    const child = spawn(process.execPath, [fixture, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    const t0 = Date.now();
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (!sent && out.includes(after)) {
        sent = true;
        signals.forEach((s, i) => setTimeout(() => child.kill(s), 300 * i + 100));
      }
    });
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ out, code, signal, ms: Date.now() - t0 });
    });
  });
}

describe('signals during a solve', () => {
  it.each([
    ['signal', 'SIGINT'], ['signal-handler', 'SIGINT'], ['signal', 'SIGTERM'], ['signal-handler', 'SIGTERM'],
  ] as const)('%s %s stops the solve at the next callback, and the process stays usable', async (mode, sig) => {
    const r = await interrupt([mode, sig], [sig]);
    expect(r.out).toContain(`caught InterruptedError: petscml: the solve was interrupted by ${sig} (true, ${sig})`);
    expect(r.out).toContain('again CONVERGED');
    if (mode === 'signal-handler') expect(r.out).toContain(`handler ran for ${sig}`);
    expect(r.out).toContain('exiting');
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
  });

  it('a second SIGINT while stopping ends the process at once', async () => {
    const r = await interrupt(['signal-twice'], ['SIGINT', 'SIGINT'], 'busy');
    expect(r.signal).toBe('SIGINT');
    expect(r.out).not.toContain('not killed');
    expect(r.ms).toBeLessThan(15_000);
  });
});
