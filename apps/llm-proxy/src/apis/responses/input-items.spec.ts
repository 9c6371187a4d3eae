import { inputItemsList } from './input-items';

const input = [
  { type: 'message', role: 'user', content: 'one' },
  { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{}' },
  { type: 'function_call_output', call_id: 'call_1', output: 'ok' },
  { id: 'msg_own', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'two' }] },
];

describe('inputItemsList', () => {
  it('gives every item a stable id of its kind and keeps ids the client sent', () => {
    const a = inputItemsList('resp_1', input, { order: 'asc', limit: 20 });
    const b = inputItemsList('resp_1', input, { order: 'asc', limit: 20 });
    const ids = (a['data'] as { id: string }[]).map((item) => item.id);
    expect(ids).toEqual((b['data'] as { id: string }[]).map((item) => item.id));
    expect(ids[0]).toMatch(/^msg_/);
    expect(ids[1]).toMatch(/^fc_/);
    expect(ids[2]).toMatch(/^fco_/);
    expect(ids[3]).toBe('msg_own');
    expect(new Set(ids).size).toBe(4);
  });

  it('pages backwards with before, in the order asked for', () => {
    const page = inputItemsList('resp_1', input, { order: 'desc', limit: 1, before: 'msg_own' });
    expect(page).toMatchObject({ object: 'list', has_more: false, data: [] });
    const asc = inputItemsList('resp_1', input, { order: 'asc', limit: 2, before: 'msg_own' });
    expect(asc).toMatchObject({ has_more: true, data: [{ type: 'message', content: [{ type: 'input_text', text: 'one' }] }, { type: 'function_call' }] });
  });

  it('refuses a cursor that is not in the list, naming it', () => {
    expect(() => inputItemsList('resp_1', input, { order: 'asc', limit: 20, before: 'msg_gone' })).toThrow(
      expect.objectContaining({ details: expect.objectContaining({ param: 'before' }) }),
    );
  });
});
