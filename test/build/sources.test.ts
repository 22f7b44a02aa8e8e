// The addon has two build descriptions: CMakeLists.txt (cmake-js, `npm run build`) and binding.gyp
// (node-gyp: `npm run build:gyp`, and npm's own build when a user installs the packed package).
// Both must compile the same sources, every native/*.cc. A binding.gyp that once listed its
// sources by hand and missed native/replicated.cc built an addon that loaded and then died on the
// first multi-rank solve (undefined symbol pml::ReplicaFor). This configures both builds, as their
// own tools do, in a copy of the sources with one more native/*.cc than the repository has, and
// compares what each would compile.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');
const ADDED = 'zz_added_later.cc';

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 50_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

// The system Node's headers (node-gyp must never download them): as in scripts/setup.sh.
function nodedir(): string {
  const fromEnv = process.env.npm_config_nodedir;
  if (fromEnv) return fromEnv;
  const dir = path.dirname(path.dirname(process.execPath));
  if (!fs.existsSync(path.join(dir, 'include/node/node_api.h'))) {
    throw new Error(`no Node headers under ${dir}/include/node: set npm_config_nodedir to a Node source or headers folder`);
  }
  return dir;
}

const relative = (dir: string, files: string[]) => files.map((f) => path.relative(dir, f).split(path.sep).join('/')).sort();

let dir = '';
let expected: string[] = [];
let gyp: string[] = [];
let cmake: string[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'petscml-sources-'));
  for (const f of ['binding.gyp', 'CMakeLists.txt', 'package.json']) fs.copyFileSync(path.join(root, f), path.join(dir, f));
  fs.cpSync(path.join(root, 'native'), path.join(dir, 'native'), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  // A source file that neither build description has heard of: both must pick it up.
  fs.writeFileSync(path.join(dir, 'native', ADDED), '// added after the build descriptions were written\n');
  expected = fs.readdirSync(path.join(dir, 'native')).filter((f) => f.endsWith('.cc')).map((f) => `native/${f}`).sort();

  // node-gyp: configure, then read the compile commands from a dry run of the generated Makefile.
  run(process.execPath, [require.resolve('node-gyp/bin/node-gyp.js'), 'configure', `--nodedir=${nodedir()}`], dir);
  const build = path.join(dir, 'build');
  const make = run('make', ['-n', '-C', build, 'V=1'], dir);
  const compiled = [...make.matchAll(/^\S+ -o \S+\.o (\S+\.(?:cc|cpp|cxx|c)) /gm)].map((m) => path.resolve(build, m[1]));
  gyp = relative(dir, [...new Set(compiled)]);

  // CMake: configure with a compilation database, one entry per compiled file.
  const cm = path.join(dir, 'cmake-build');
  run('cmake', ['-S', dir, '-B', cm, '-DCMAKE_EXPORT_COMPILE_COMMANDS=ON'], dir);
  const db = JSON.parse(fs.readFileSync(path.join(cm, 'compile_commands.json'), 'utf8')) as { file: string; directory: string }[];
  cmake = relative(dir, [...new Set(db.map((e) => path.resolve(e.directory, e.file)))]);
}, 120_000);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the two build descriptions of the addon', () => {
  it('take every native/*.cc of the repository', () => {
    const inRepo = fs.readdirSync(path.join(root, 'native')).filter((f) => f.endsWith('.cc')).map((f) => `native/${f}`);
    expect(inRepo).toContain('native/replicated.cc');
    for (const f of inRepo) {
      expect(gyp, `binding.gyp does not compile ${f}`).toContain(f);
      expect(cmake, `CMakeLists.txt does not compile ${f}`).toContain(f);
    }
  });

  it('pick up a native/*.cc added later, with no list to edit', () => {
    expect(gyp).toContain(`native/${ADDED}`);
    expect(cmake).toContain(`native/${ADDED}`);
  });

  it('compile exactly native/*.cc, the same set', () => {
    expect(gyp).toEqual(expected);
    expect(cmake).toEqual(expected);
    expect(gyp).toEqual(cmake);
  });
});
