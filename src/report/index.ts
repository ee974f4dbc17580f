// Public surface of reporting: the run-log types, the JSONL metrics logger and the HTML report.
// Not here: metrics computation (src/eval).

export { MetricsLogger, readMetricsLog } from './runlog.ts';
export type { LogRecord, RunLog, RunSummary, SearchTrial } from './runlog.ts';
export { renderHtmlReport, writeHtmlReport, confusionMatrixTable } from './html.ts';
export { lineChart, niceTicks, formatNumber, escapeXml } from './svg.ts';
export type { Series, ChartOptions } from './svg.ts';
