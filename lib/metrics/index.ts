export { psnr, psnrPerImage } from './psnr';
export type { PsnrOptions } from './psnr';
export { ssim, ssimPerImage } from './ssim';
export type { SsimOptions } from './ssim';
