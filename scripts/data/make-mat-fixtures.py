#!/usr/bin/env python3
"""Writes tiny SVHN-format .mat fixtures with scipy (an independent writer to check ts/data/mat.ts against).

  svhn-scipy.mat       MAT v5, uncompressed
  svhn-scipy-z.mat     MAT v5, miCOMPRESSED elements
Both hold X: uint8 32x32x3x2 with X[h, w, c, n] = (3h + 5w + 50c + 100n) % 256 and y: double 2x1 = [10, 3]
(SVHN's convention: 10 is the digit 0).

Needs scipy (not a project dependency): pip install --target /tmp/pyscipy scipy; PYTHONPATH=/tmp/pyscipy python3 ...
Usage: python3 scripts/data/make-mat-fixtures.py [outdir=test/fixtures/data]
"""
import os
import sys

import numpy as np
import scipy.io

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'data')
os.makedirs(out, exist_ok=True)
h, w, c, n = np.meshgrid(np.arange(32), np.arange(32), np.arange(3), np.arange(2), indexing='ij')
X = ((3 * h + 5 * w + 50 * c + 100 * n) % 256).astype(np.uint8)
y = np.array([[10.0], [3.0]])
for name, compress in [('svhn-scipy.mat', False), ('svhn-scipy-z.mat', True)]:
    p = os.path.join(out, name)
    scipy.io.savemat(p, {'X': X, 'y': y}, do_compression=compress, format='5')
    # Stable header text: scipy writes the creation date there.
    with open(p, 'r+b') as f:
        f.write(b'MATLAB 5.0 MAT-file, written by scripts/data/make-mat-fixtures.py'.ljust(116, b' '))
    print(name, os.path.getsize(p), 'bytes')
