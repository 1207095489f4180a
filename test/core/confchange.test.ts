// Single-member changes: confChangeProblem refuses each change that cannot apply, and
// applyConfChange produces the new voter and learner sets without touching the input.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { applyConfChange, confChangeProblem } from '../../src/core/confchange.ts';
import type { ConfState } from '../../src/core/types.ts';

const test = suite('confchange');

const conf: ConfState = { voters: ['a', 'b', 'c'], learners: ['l'] };

test('adding an existing voter or learner as a voter is refused', () => {
  assert.match(confChangeProblem(conf, { type: 'addVoter', node: 'b' }) ?? '', /b is already a member/);
  assert.match(confChangeProblem(conf, { type: 'addVoter', node: 'l' }) ?? '', /promoteLearner/);
});

test('adding an existing member as a learner is refused', () => {
  assert.match(confChangeProblem(conf, { type: 'addLearner', node: 'a' }) ?? '', /a is already a member/);
  assert.match(confChangeProblem(conf, { type: 'addLearner', node: 'l' }) ?? '', /l is already a member/);
});

test('promoting a voter or a stranger is refused: only learners are promoted', () => {
  assert.match(confChangeProblem(conf, { type: 'promoteLearner', node: 'a' }) ?? '', /a is not a learner/);
  assert.match(confChangeProblem(conf, { type: 'promoteLearner', node: 'z' }) ?? '', /z is not a learner/);
});

test('removing a non-member is refused', () => {
  assert.match(confChangeProblem(conf, { type: 'removeNode', node: 'z' }) ?? '', /z is not a member/);
});

test('removing the last voter is refused, even with learners left', () => {
  const solo: ConfState = { voters: ['a'], learners: ['l'] };
  assert.match(confChangeProblem(solo, { type: 'removeNode', node: 'a' }) ?? '', /a is the last voter/);
  assert.is(confChangeProblem(solo, { type: 'removeNode', node: 'l' }), null, 'a learner can still go');
});

test('valid changes have no problem', () => {
  assert.is(confChangeProblem(conf, { type: 'addVoter', node: 'd' }), null);
  assert.is(confChangeProblem(conf, { type: 'addLearner', node: 'd' }), null);
  assert.is(confChangeProblem(conf, { type: 'promoteLearner', node: 'l' }), null);
  assert.is(confChangeProblem(conf, { type: 'removeNode', node: 'a' }), null);
  assert.is(confChangeProblem(conf, { type: 'removeNode', node: 'l' }), null);
});

test('addVoter and addLearner append the new member to the right set', () => {
  assert.equal(applyConfChange(conf, { type: 'addVoter', node: 'd' }), { voters: ['a', 'b', 'c', 'd'], learners: ['l'] });
  assert.equal(applyConfChange(conf, { type: 'addLearner', node: 'd' }), { voters: ['a', 'b', 'c'], learners: ['l', 'd'] });
});

test('promoteLearner moves the learner to the voters', () => {
  assert.equal(applyConfChange(conf, { type: 'promoteLearner', node: 'l' }), { voters: ['a', 'b', 'c', 'l'], learners: [] });
});

test('removeNode removes a voter or a learner', () => {
  assert.equal(applyConfChange(conf, { type: 'removeNode', node: 'b' }), { voters: ['a', 'c'], learners: ['l'] });
  assert.equal(applyConfChange(conf, { type: 'removeNode', node: 'l' }), { voters: ['a', 'b', 'c'], learners: [] });
});

test('applyConfChange leaves its input unchanged', () => {
  const before = JSON.stringify(conf);
  applyConfChange(conf, { type: 'addVoter', node: 'd' });
  applyConfChange(conf, { type: 'removeNode', node: 'a' });
  applyConfChange(conf, { type: 'promoteLearner', node: 'l' });
  assert.is(JSON.stringify(conf), before);
});

test.run();
