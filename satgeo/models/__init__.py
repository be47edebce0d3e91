"""Model families (pix2pix, DiffusionSat, ControlNet), their loading and the tiny test models."""
