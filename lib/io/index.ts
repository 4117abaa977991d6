export { readImage, writeImage, readImageFolder, IMAGE_EXTENSIONS, DEFAULT_PIXEL_LIMIT } from './image';
export type { ReadImageOptions, ImageMode } from './image';
export { encodePng } from './png';
export { lineChartSvg, writeLineChart, barChartSvg, writeBarChart } from './plot';
export type { Series, Bars } from './plot';
