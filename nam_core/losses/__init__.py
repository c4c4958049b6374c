"""Reconstruction losses: perceptual (VGG16 features, pluggable backbone) and Laplacian-pyramid L1."""

from .perceptual import LaplacianL1, NCCLoss, PerceptualLoss, StructureLoss, build_loss, silhouette_gap, soft_foreground

__all__ = ["LaplacianL1", "NCCLoss", "PerceptualLoss", "StructureLoss", "build_loss", "silhouette_gap",
           "soft_foreground"]
