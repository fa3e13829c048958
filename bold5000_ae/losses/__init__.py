"""Reconstruction losses, one file each, all with one convention.

Convention (stated once, used everywhere): inputs are masked voxel vectors (B, V), so every term
is computed inside the brain mask; a term is summed over voxels (or latent units) and averaged
over the batch, so a weight or a VAE's β means what it says. A loss returns a dict of named
terms whose ``loss`` entry is the total that is optimised.
"""
