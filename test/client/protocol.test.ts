// The client protocol's validation of what crosses the wire: a fault request with held-back
// message types round-trips, every malformed one is refused naming the field, and an answer with
// an error code the protocol does not define is refused rather than passed on.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Encoder } from 'cbor-x';
import { decodeRequest, decodeResponse, decodeResponseHead, encodeRequest, encodeResponse, errorCodes, faultDelayMsMax } from '../../src/client/protocol.ts';

const t = suite('client protocol');
const cbor = new Encoder({ useRecords: false });
const raw = (a: unknown[]) => new Uint8Array(cbor.encode(a));

t('a fault request round-trips, with and without held-back message types', () => {
  const plain = decodeRequest(encodeRequest(7, { op: 'fault', block: ['n2'], delays: [] }));
  assert.equal(plain, { id: 7, op: 'fault', block: ['n2'], delays: [] });
  const held = decodeRequest(encodeRequest(8, { op: 'fault', block: [], delays: [{ type: 'timeoutNow', ms: 600 }, { type: 'vote', ms: 0 }] }));
  assert.equal(held, { id: 8, op: 'fault', block: [], delays: [{ type: 'timeoutNow', ms: 600 }, { type: 'vote', ms: 0 }] });
});

t('malformed delays are refused, naming what is wrong', () => {
  const refused = (delays: unknown, re: RegExp) => assert.throws(() => decodeRequest(raw([1, 10, [], delays])), re);
  refused('x', /delays must be a list/);
  refused([['timeoutNow']], /a delay must be \[message type, ms\]/);
  refused([['bogus', 5]], /type must be one of app, appResp/);
  refused([['snap', 5]], /type must be one of/);
  refused([['timeoutNow', -1]], new RegExp(`integer number of ms in \\[0, ${faultDelayMsMax}\\]`));
  refused([['timeoutNow', faultDelayMsMax + 1]], /in \[0, 60000\]/);
  refused([['timeoutNow', 1.5]], /integer number of ms/);
  assert.throws(() => decodeRequest(raw([1, 10, [], [], 'extra'])), /expected 3 or 4 fields/);
});

t('an answer with an error code the protocol does not define is refused', () => {
  for (const code of errorCodes) {
    const bytes = encodeResponse({ id: 1, ok: false, error: { code, message: 'm', leader: null } });
    const r = decodeResponse(decodeResponseHead(bytes), 'get');
    assert.is(r.ok, false);
  }
  const forged = raw([3, 1, 'ERR_SOMETHING_ELSE', 'msg', null, null]);
  assert.throws(() => decodeResponse(decodeResponseHead(forged), 'get'), /unknown error code "ERR_SOMETHING_ELSE"/);
  assert.ok(errorCodes.includes('ERR_OUTCOME_UNKNOWN'));
});

t.run();
