"""Image-quality measures (PSNR, SSIM, seam ratio) and the pix2pix evaluation on held-out chips."""
