"""Training loops for pix2pix, ControlNet and LoRA on the user's own image + footprint pairs."""
