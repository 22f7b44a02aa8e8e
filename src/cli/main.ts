#!/usr/bin/env node
/**
 * The petscml command: `petscml train ...`, `petscml reproduce ...`, `petscml plot ...`, `petscml presets`.
 * Errors end with one message and a non-zero exit code, never a stack trace (PETSCML_DEBUG=1
 * shows it).
 */
import { UsageError } from './args';

const HELP = `Usage: petscml <command> [options]

Commands:
  train     train the built-in problem with several solvers, or run a training script
  reproduce rerun one of the paper's comparisons (burgers)
  plot      draw loss and test metric from JSON-lines logs (SVG and PNG)
  presets   list the solver presets and the PETSc options each one sets

Run 'petscml <command> --help' for a command's options.
  -h, --help     this text
  -v, --version  petscml's version
`;

function version(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('../../package.json').version;
}

async function presets(argv: readonly string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write('Usage: petscml presets\nLists each preset with the PETSc options it sets (relative to its prefix).\n');
    return 0;
  }
  if (argv.length) throw new UsageError(`presets takes no arguments, got '${argv[0]}'`);
  const { PRESETS } = await import('../solvers/presets');
  for (const p of Object.values(PRESETS)) {
    process.stdout.write(`${p.name} (${p.label}): ${p.description}; Hessian products: ${p.hessian}\n`);
    for (const [k, v] of Object.entries(p.options)) process.stdout.write(`    -${k} ${v}\n`);
  }
  return 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(HELP);
        return command === undefined ? 2 : 0;
      case '-v':
      case '--version':
        process.stdout.write(version() + '\n');
        return 0;
      case 'train':
        return await (await import('./train')).runTrain(rest);
      case 'reproduce':
        return await (await import('./reproduce')).runReproduce(rest);
      case 'plot':
        return await (await import('./plot')).runPlot(rest);
      case 'presets':
        return await presets(rest);
      default:
        throw new UsageError(`unknown command '${command}' (commands: train, reproduce, plot, presets)`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`petscml${command && !command.startsWith('-') ? ` ${command}` : ''}: ${e.message}\n` +
        `Run 'petscml ${command === 'train' || command === 'plot' || command === 'reproduce' ? command + ' ' : ''}--help' for usage.\n`);
      return 2;
    }
    const err = e as Error;
    const msg = err && typeof err.message === 'string' ? err.message : String(e);
    process.stderr.write(`${msg.startsWith('petscml') ? '' : 'petscml: '}${msg}\n`);
    if (process.env.PETSCML_DEBUG && err?.stack) process.stderr.write(err.stack + '\n');
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`petscml: ${(e as Error)?.message ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
