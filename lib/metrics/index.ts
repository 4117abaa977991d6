export { psnr, psnrPerImage } from './psnr';
export type { PsnrOptions } from './psnr';
