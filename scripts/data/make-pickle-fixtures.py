#!/usr/bin/env python3
"""Writes the small CIFAR-style pickle fixtures used by test/data-formats.test.ts.

Each fixture is one CIFAR python batch dict as Python 3 + numpy write it:
  {b'batch_label': b'fixture', b'labels': [3, 9], b'data': uint8 array [2, 3072], b'filenames': [...]}
with data[i, j] = (7 * (i * 3072 + j) + 1) % 256, gzip'd to stay tiny:
  cifar-batch-proto2.pkl.gz          protocol 2 (numpy raw data via _codecs.encode(..., 'latin1'))
  cifar-batch-proto2-fortran.pkl.gz  protocol 2, array in Fortran order
  cifar-batch-proto5.pkl.gz          protocol 5 (numpy _frombuffer with an in-band BYTEARRAY8)
The real CIFAR-10 files were written by Python 2's cPickle (BINSTRING data); the tests build that
variant byte by byte in TypeScript.

Usage: python3 scripts/data/make-pickle-fixtures.py [outdir=test/fixtures/data]
"""
import gzip
import os
import pickle
import sys

import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'data')
os.makedirs(out, exist_ok=True)
data = ((np.arange(2 * 3072, dtype=np.int64) * 7 + 1) % 256).astype(np.uint8).reshape(2, 3072)
for name, arr, proto in [
    ('cifar-batch-proto2.pkl.gz', data, 2),
    ('cifar-batch-proto2-fortran.pkl.gz', np.asfortranarray(data), 2),
    ('cifar-batch-proto5.pkl.gz', data, 5),
]:
    batch = {b'batch_label': b'fixture', b'labels': [3, 9], b'data': arr, b'filenames': [b'a.png', b'b.png']}
    raw = pickle.dumps(batch, protocol=proto)
    # mtime=0: reproducible bytes
    with open(os.path.join(out, name), 'wb') as f:
        f.write(gzip.compress(raw, compresslevel=9, mtime=0))
    print(name, len(raw), 'bytes pickled,', os.path.getsize(os.path.join(out, name)), 'gzip')
