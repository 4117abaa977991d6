export { readImage, writeImage, readImageFolder, IMAGE_EXTENSIONS, DEFAULT_PIXEL_LIMIT } from './image';
export type { ReadImageOptions, ImageMode } from './image';
export { encodePng } from './png';
export { lineChartSvg, writeLineChart } from './plot';
export type { Series } from './plot';
