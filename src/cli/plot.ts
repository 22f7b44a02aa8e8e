/**
 * `petscml plot`: draws the comparison figure of one or more training logs.
 *
 * Usage errors exit with 2, unreadable or invalid logs and failed writes with 1; either way one
 * message on stderr and no stack trace.
 */
import { parseArgs } from 'node:util';
import { readLogs } from '../monitor/log';
import { formatSummaryTable } from '../monitor/summary';
import { parseXAxis, plotRuns, type PlotFormat, type PlotXAxis } from '../plot/plot';

/** Where the command writes; process.stdout/stderr unless a caller (a test) captures them. */
export interface CliIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export const PLOT_HELP = `Usage: petscml plot LOG.jsonl [LOG.jsonl ...] -o OUT [options]

Draws training loss and test metric against epochs and against oracle calls, log-log, one line
per run (labelled with the solver name from the log's header and the minimum reached), as a grid
of panels in one figure: OUT.svg and OUT.png.

Options:
  -o, --out OUT        output path without extension (required); directories are created
  -f, --format LIST    comma-separated formats: svg, png (default: svg,png)
  -x, --x LIST         comma-separated x axes, one column of panels each:
                       epoch, oracle (default: epoch,oracle)
  -t, --title TEXT     figure title
      --scale N        PNG pixels per SVG unit (default: 2)
      --table          also print the summary table of the runs on stdout
      --markdown       print the summary table as Markdown (implies --table)
  -h, --help           show this help

The test-metric row is left out when no log has a test metric. Points a log axis cannot show
(zero or negative values) are left out, with a note on stderr. Logs of killed runs (no summary
record, a torn last line) are drawn up to their last complete record.

Example:
  petscml plot runs/adam.jsonl runs/tr-gn.jsonl -o figures/compare --title "MLP regression"
`;

class UsageError extends Error {}

function list<T>(value: string, what: string, parse: (s: string) => T | undefined): T[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`--${what} needs a comma-separated list`);
  return items.map((s) => {
    const v = parse(s);
    if (v === undefined) throw new UsageError(`--${what}: unknown value '${s}'`);
    return v;
  });
}

/** Runs `petscml plot` with the arguments after 'plot'; resolves to the exit code. */
export async function runPlot(argv: readonly string[], io: CliIO = process): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  let positionals: string[];
  function parse() {
    return parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: 'string', short: 'o' },
        format: { type: 'string', short: 'f' },
        x: { type: 'string', short: 'x' },
        title: { type: 'string', short: 't' },
        scale: { type: 'string' },
        table: { type: 'boolean' },
        markdown: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  }
  let formats: PlotFormat[] = ['svg', 'png'];
  let x: PlotXAxis[] = ['epoch', 'oracleCalls'];
  let scale: number | undefined;
  try {
    ({ values, positionals } = parse());
    if (values.help) {
      io.stdout.write(PLOT_HELP);
      return 0;
    }
    if (positionals.length === 0) throw new UsageError('no log files given');
    if (values.out === undefined || values.out === '') throw new UsageError('-o OUT is required (the output path without extension)');
    if (values.format !== undefined) {
      formats = list(values.format, 'format', (s) => (s === 'svg' || s === 'png' ? s : undefined));
    }
    if (values.x !== undefined) x = list(values.x, 'x', parseXAxis);
    if (values.scale !== undefined) {
      scale = Number(values.scale);
      if (!Number.isFinite(scale) || scale <= 0 || scale > 16) throw new UsageError(`--scale: expected a number in (0, 16], got '${values.scale}'`);
    }
  } catch (e) {
    // parseArgs' own errors (unknown option, missing value) are usage errors too.
    // parseArgs' messages run on with advice about '--': its first sentence is the news.
    let msg = (e as Error).message.replace(/^petscml: /, '');
    if (!(e instanceof UsageError)) msg = msg.replace(/\. .*$/s, '');
    io.stderr.write(`petscml plot: ${msg}\nRun 'petscml plot --help' for usage.\n`);
    return 2;
  }
  try {
    const runs = readLogs(positionals);
    for (const r of runs) {
      if (r.iterations.length === 0) io.stderr.write(`petscml plot: note: ${r.path} has no iteration records\n`);
    }
    const result = await plotRuns(runs, { out: values.out, formats, x, title: values.title, scale });
    for (const n of result.notes) io.stderr.write(`petscml plot: note: ${n}\n`);
    if (values.table || values.markdown) {
      io.stdout.write(formatSummaryTable(runs, { format: values.markdown ? 'markdown' : 'text' }));
    }
    for (const f of result.files) io.stdout.write(`wrote ${f}\n`);
    return 0;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    io.stderr.write(msg.startsWith('petscml') ? `${msg}\n` : `petscml plot: ${msg}\n`);
    return 1;
  }
}

// Runnable on its own (node dist/cli/plot.js ...), besides through the petscml dispatcher.
if (require.main === module) {
  runPlot(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`petscml plot: ${(e as Error)?.message ?? e}\n`);
      process.exitCode = 1;
    },
  );
}
