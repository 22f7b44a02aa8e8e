export type { RecordCounts, HeaderRecord, IterationRecord, SummaryRecord, RunRecord } from './record';
export { JsonlLog, readLog, readLogs, parseLog } from './log';
export type { JsonlLogOptions, RunLog } from './log';
export { ProgressReporter, isCI, formatNumber } from './progress';
export type { ProgressOptions, ProgressStream } from './progress';
export { summarizeRun, formatSummaryTable } from './summary';
export type { RunLike, SummaryRow, SummaryTableOptions } from './summary';
export { explainStop } from './reasons';
export type { StopContext, StopExplanation } from './reasons';
