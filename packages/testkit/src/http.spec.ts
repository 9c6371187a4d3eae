import { eventually } from './http';

describe('eventually', () => {
  it('returns the first value that is neither undefined nor false', async () => {
    let calls = 0;
    await expect(eventually(() => (++calls < 3 ? false : calls), 5_000)).resolves.toBe(3);
  });

  it('names what it waited for and shows the last thrown object, not [object Object]', async () => {
    const waiting = eventually(
      () => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- a non-Error is what this test is about
        throw { code: 'NOT_READY', detail: 'still syncing' };
      },
      0,
      'the registry',
    );
    await expect(waiting).rejects.toThrow("timed out after 0 ms waiting for the registry: { code: 'NOT_READY', detail: 'still syncing' }");
  });

  it('keeps the name of a thrown Error', async () => {
    await expect(eventually(() => Promise.reject(new TypeError('bad shape')), 0)).rejects.toThrow('waiting for condition: TypeError: bad shape');
  });
});
