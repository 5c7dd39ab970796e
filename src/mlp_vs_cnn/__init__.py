"""Why convolutional networks beat multilayer perceptrons on images: MNIST and Fashion-MNIST,
original, shifted and permuted, with PyTorch Lightning and Hydra."""
