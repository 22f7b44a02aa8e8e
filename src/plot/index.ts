export { plotRuns, renderFigureSvg, renderVegaLiteSvg, svgToPng, parseXAxis } from './plot';
export type { PlotOptions, PlotResult, PlotFormat, PlotXAxis, FigureSvg } from './plot';
