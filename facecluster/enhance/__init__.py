"""Image enhancement before embedding: 5-point face alignment and super-resolution."""
