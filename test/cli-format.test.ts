/**
 * The CLI's text layout: the training progress line fits the terminal's width with the ETA always
 * visible, the per-epoch table stays within 100 columns, counted nouns agree with their numbers.
 */
import test from 'ava';

import {
  epochTableHeader,
  formatDuration,
  formatDurationShort,
  formatEpochRow,
  formatLr,
  plural,
  progressLine,
  terminalColumns,
  type EpochRow,
  type ProgressState,
} from '../ts/cli/format.js';

const TYPICAL: ProgressState = { epoch: 3, epochs: 15, value: 63, total: 125, loss: 0.4512, error: 0.1345, imagesPerSecond: 1234, etaSeconds: 65 };
const WIDE: ProgressState = { epoch: 300, epochs: 300, value: 1563, total: 1563, loss: 123.4567, error: 1, imagesPerSecond: 123456, etaSeconds: 999 * 3600 + 59 * 60 + 59 };
const EVALUATING: ProgressState = { ...TYPICAL, value: 3200, total: 10000, evaluating: 'validation' };

test('the progress line fits every width from 10 to 200 columns and always ends with the ETA', (t) => {
  for (const state of [TYPICAL, WIDE, EVALUATING, { ...TYPICAL, etaSeconds: NaN }]) {
    for (let cols = 10; cols <= 200; cols++) {
      const line = progressLine(state, cols);
      t.true(line.length <= cols - 1, `${cols} columns: ${line.length} characters: ${line}`);
      const eta = formatDuration(state.etaSeconds);
      t.true(line.endsWith(eta.slice(0, cols - 1)), `${cols} columns: the ETA is cut off: ${line}`);
      if (cols >= 20) t.true(line.endsWith(`ETA ${eta}`), `${cols} columns: ${line}`);
    }
  }
});

test('at 80 columns the typical line keeps the bar and every field; narrower, the fields go by priority', (t) => {
  const at80 = progressLine(TYPICAL, 80);
  t.regex(at80, /^epoch 3\/15 {2}\[[█░]{8,30}\] {2}63\/125 {2}loss 0\.4512 {2}err 13\.45% {2}1,234 img\/s {2}ETA 1m05s$/);
  t.log(at80);
  const at60 = progressLine(TYPICAL, 60);
  t.regex(at60, /\[[█░]+\]/);
  t.notRegex(at60, /img\/s/, 'images/s goes first');
  t.regex(progressLine(TYPICAL, 40), /^epoch 3\/15 {2}63\/125 .*ETA 1m05s$/);
  t.is(progressLine(TYPICAL, 20), '3/15 ETA 1m05s');
  // The bar grows with the room up to 30 characters.
  t.regex(progressLine(TYPICAL, 200), /\[[█░]{30}\]/);
  // While evaluating: which set and how far, and still the ETA.
  t.regex(progressLine(EVALUATING, 80), /evaluating valid 3,200\/10,000 {2}ETA 1m05s$/);
});

test('the progress width honours $COLUMNS, then the terminal, then 80', (t) => {
  const saved = process.env.COLUMNS;
  t.teardown(() => {
    if (saved === undefined) delete process.env.COLUMNS;
    else process.env.COLUMNS = saved;
  });
  delete process.env.COLUMNS;
  t.is(terminalColumns({ columns: 132 }), 132);
  t.is(terminalColumns({}), 80);
  t.is(terminalColumns({ columns: 0 }), 80);
  process.env.COLUMNS = '60';
  t.is(terminalColumns({ columns: 132 }), 60);
  process.env.COLUMNS = 'wide';
  t.is(terminalColumns({ columns: 132 }), 132);
});

const ROW: EpochRow = {
  epoch: 3,
  epochs: 15,
  trainLoss: 0.4512,
  trainError: 0.1345,
  validLoss: 0.1234,
  validError: 0.034,
  testError: 0.0321,
  lr: 0.1,
  seconds: 8.1,
  imagesPerSecond: 1234,
  dataShare: 0.003,
  isBest: true,
};

test('per-epoch rows fit in 100 columns, even with extreme values, and line up under the header', (t) => {
  const extreme: EpochRow = {
    epoch: 300,
    epochs: 300,
    trainLoss: 999.9999,
    trainError: 1,
    validLoss: 999.9999,
    validError: 1,
    testError: 1,
    lr: 0.000123,
    seconds: 99 * 3600 + 59 * 60,
    imagesPerSecond: 999_999,
    dataShare: 1,
    isBest: true,
  };
  for (const r of [ROW, extreme, { ...ROW, validLoss: null, validError: null, testError: null }, { ...extreme, epoch: 1234, epochs: 5000 }]) {
    const row = formatEpochRow(r);
    t.true(row.length <= 100, `${row.length}: ${row}`);
    const header = epochTableHeader(r.epochs);
    t.is(formatEpochRow({ ...r, isBest: false }).length, header.length, 'row and header have the same columns');
  }
  const header = epochTableHeader(15);
  t.log(`\n${header}\n${formatEpochRow(ROW)}`);
  t.regex(header, /^epoch {2}train loss {2}train err {2}valid loss {2}valid err {2}test err {7}lr {4}time {4}img\/s {3}data$/);
  t.regex(formatEpochRow(ROW), /^ 3\/15 +0\.4512 +13\.45% +0\.1234 +3\.40% +3\.21% +0\.1 +8\.1s +1,234 +0\.3% {2}\*$/);
  // Columns line up: each value ends where its header ends.
  const ends = (s: string): number[] => [...s.matchAll(/\S+(?= |$)/g)].map((m) => m.index! + m[0].length);
  const headerEnds = ends(header);
  t.true(ends(formatEpochRow({ ...ROW, isBest: false })).every((e) => headerEnds.includes(e)));
  t.is(formatEpochRow({ ...ROW, validLoss: null, validError: null }).match(/ - /g)?.length, 2);
});

test('durations, learning rates and counted nouns', (t) => {
  t.is(formatDuration(0.31), '0.3s');
  t.is(formatDuration(42), '42s');
  t.is(formatDuration(245), '4m05s');
  t.is(formatDuration(3723), '1h02m03s');
  t.is(formatDuration(-1), '--');
  t.is(formatDurationShort(3723), '1h02m');
  t.is(formatDurationShort(59), '59s');
  t.is(formatLr(0.1), '0.1');
  t.is(formatLr(0.00995), '0.00995');
  t.is(formatLr(0.000995), '9.95e-4');
  t.is(formatLr(1e-4), '1e-4');
  t.is(plural(1, 'epoch'), '1 epoch');
  t.is(plural(2, 'epoch'), '2 epochs');
  t.is(plural(0, 'image'), '0 images');
  t.is(plural(10000, 'image'), '10,000 images');
  t.is(plural(1, 'complete epoch'), '1 complete epoch');
});
