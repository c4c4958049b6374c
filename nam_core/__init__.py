"""NAM Studio: non-adversarial unsupervised cross-domain image mapping (NAM, AE-NAM, VAE-NAM, GLANN).

Modules, in import order (each only imports those before it):
``paths``/``utils`` → ``data`` → ``nets`` → ``losses`` → ``checkpoints`` → ``methods`` → ``eval`` → ``serving``.
"""

__version__ = "0.1.0"
